"""Replace large values with tokens, and tokens with their values, in place.

Each direction is split into a sans-IO *prepare* step (find the fields, decide,
check sizes) and an *apply* step (write the results), with exactly one store
call in between that receives every value of the message at once. The sync and
async functions differ only in that one call. A message is changed only after
every value has been stored or fetched: on any error it is left as it was.

Both directions look only at the fields that carry payloads (see
:mod:`._fields`): a caller's own text (a version, a reason, an id) is never
uploaded, and a token found there is never resolved.
"""

from __future__ import annotations

from google.protobuf import wrappers_pb2
from google.protobuf.message import Message

from . import _telemetry
from ._codec import check_size
from ._compression import GZIP_MAGIC
from ._exceptions import PayloadIntegrityError
from ._store import PayloadStore
from ._token import MAX_TOKEN_LENGTH
from ._walker import find_string_values

__all__ = [
    "deexternalize_payloads",
    "deexternalize_payloads_async",
    "externalize_payloads",
    "externalize_payloads_async",
    "payload_tokens",
]

# Values grouped by content: identical values in one message cost one transfer.
_Groups = dict[bytes, list[wrappers_pb2.StringValue]]
_TokenGroups = dict[str, list[wrappers_pb2.StringValue]]


def _utf8(field: wrappers_pb2.StringValue) -> bytes:
    """Return the UTF-8 bytes of a StringValue, straight from its wire form.

    Far cheaper than ``field.value.encode()``, which builds a Python string and
    encodes it again (about 1 ms per MB, against 0.06 ms).
    """
    wire = field.SerializeToString()
    # Field 1, length-delimited: one tag byte (0x0A), a varint length, then the bytes.
    if wire[:1] == b"\n":
        length, start = 0, 1
        for shift in range(0, 64, 7):
            byte = wire[start]
            start += 1
            length |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
        if start + length == len(wire):
            return wire[start:]
    return field.value.encode("utf-8")  # unknown fields or an empty value: take the slow road


def _prepare_upload(message: Message, store: PayloadStore, instance_id: str | None) -> _Groups:
    options = store.options
    threshold = options.threshold_bytes
    # Nothing inside a message can be larger than the message itself.
    if message.ByteSize() < threshold:
        return {}
    # A value of n UTF-8 bytes is at least n + 2 bytes on the wire: judge by ByteSize, in C,
    # without turning the value into a Python string.
    candidates = find_string_values(
        message,
        keep=lambda field: field.ByteSize() >= threshold + 2,
        min_size=threshold,
    )
    groups: _Groups = {}
    for field in candidates:
        data = _utf8(field)
        if len(data) < threshold:
            continue
        if len(data) <= MAX_TOKEN_LENGTH and store.is_known_token(data.decode("utf-8")):
            continue
        if not store.accepts(data, instance_id=instance_id):
            continue  # the store keeps this one inline
        # Checked for every value before anything is uploaded.
        check_size(len(data), options)
        groups.setdefault(data, []).append(field)
    return groups


def _fill(groups: _Groups | _TokenGroups, values: list[str]) -> int:
    """Set each group's fields to its value (a token, or a payload's text); return how many were set."""
    count = 0
    for fields, value in zip(groups.values(), values, strict=True):
        for field in fields:
            field.value = value
            count += 1
    return count


def _prepare_download(message: Message, store: PayloadStore) -> _TokenGroups:
    prefixes = store.token_prefixes
    # Cheaper than a walk: no token prefix anywhere in the bytes means no token.
    serialized = message.SerializeToString()
    if not any(prefix.encode() in serialized for prefix in prefixes):
        return {}
    groups: _TokenGroups = {}
    # Tokens are short: a longer value is data, and is not even turned into a Python string.
    limit = MAX_TOKEN_LENGTH + 4
    keep = lambda field: field.ByteSize() <= limit and field.value.startswith(prefixes)  # noqa: E731
    for field in find_string_values(message, keep=keep):
        token = field.value
        if store.is_known_token(token):
            groups.setdefault(token, []).append(field)
    return groups


def _apply_payloads(groups: _TokenGroups, payloads: list[bytes]) -> int:
    texts: list[str] = []
    for token, data in zip(groups, payloads, strict=True):
        try:
            texts.append(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            reason = f"the payload is not valid UTF-8 ({exc.reason})"
            if data.startswith(GZIP_MAGIC):
                # What durabletask's built-in store writes with compression on: a gzip body whose
                # blob does not say Content-Encoding: gzip, so no SDK inflates it.
                reason += "; it is gzip data stored without Content-Encoding: gzip"
            raise PayloadIntegrityError(token, reason) from exc
    return _fill(groups, texts)


def externalize_payloads(message: Message, store: PayloadStore, *, instance_id: str | None = None) -> int:
    """Upload every large payload reachable from *message* and put its token in its place.

    Payloads are the ``StringValue`` fields that carry serialized data: in
    Durable Task's messages the inputs, results, outputs, custom status, event
    data and entity state (docs/how-it-works.md lists them); in messages of
    other protobuf files, every ``StringValue``. A value is large when its
    UTF-8 size is at or above ``store.options.threshold_bytes``. Values that
    already are tokens of *store* are left alone. All values of the message go
    to the store in one ``upload_many`` call.

    Args:
        message: Any protobuf message; rewritten in place.
        store: Where payloads go.
        instance_id: The instance the payloads belong to (scopes their names).

    Returns:
        How many fields were replaced by tokens.

    Raises:
        PayloadTooLargeError: A value is above ``max_stored_payload_bytes``;
            nothing was uploaded and *message* is unchanged.
        PayloadError: The store failed; *message* is unchanged.

    """
    groups = _prepare_upload(message, store, instance_id)
    if not groups:
        return 0
    with _telemetry.batch("externalize", store, message, len(groups), instance_id=instance_id):
        return _fill(groups, store.upload_many(list(groups), instance_id=instance_id))


async def externalize_payloads_async(
    message: Message, store: PayloadStore, *, instance_id: str | None = None
) -> int:
    """Async twin of :func:`externalize_payloads`."""
    groups = _prepare_upload(message, store, instance_id)
    if not groups:
        return 0
    with _telemetry.batch("externalize", store, message, len(groups), instance_id=instance_id):
        return _fill(groups, await store.upload_many_async(list(groups), instance_id=instance_id))


def deexternalize_payloads(message: Message, store: PayloadStore) -> int:
    """Replace every token of *store* found in a payload field of *message* by its payload.

    Only a value that is, as a whole, a well-formed token of *store*, in a
    field that carries payloads (the same fields :func:`externalize_payloads`
    writes), is resolved. Text that merely contains a token is data, and a
    token in a field holding a caller's text (an orchestration version, a
    suspend reason, an id) is that text: both stay as they are. All tokens of
    the message go to the store in one ``download_many`` call.

    Args:
        message: Any protobuf message; rewritten in place.
        store: Where the payloads are.

    Returns:
        How many fields were restored.

    Raises:
        PayloadNotFoundError, PayloadIntegrityError, InvalidPayloadTokenError,
        PayloadStoreUnavailableError: A token could not be resolved; *message*
            is unchanged.

    """
    groups = _prepare_download(message, store)
    if not groups:
        return 0
    with _telemetry.batch("resolve", store, message, len(groups)):
        return _apply_payloads(groups, store.download_many(list(groups)))


async def deexternalize_payloads_async(message: Message, store: PayloadStore) -> int:
    """Async twin of :func:`deexternalize_payloads`."""
    groups = _prepare_download(message, store)
    if not groups:
        return 0
    with _telemetry.batch("resolve", store, message, len(groups)):
        return _apply_payloads(groups, await store.download_many_async(list(groups)))


def payload_tokens(message: Message, store: PayloadStore) -> list[str]:
    """Return the tokens of *store* in *message*'s payload fields, each once, in the order found.

    Nothing is downloaded. Useful to find what an instance's history or state
    references (for clean-up, auditing or tooling).
    """
    return list(_prepare_download(message, store))

"""Amazon S3 (and S3-compatible) payload store, on obstore's Rust client."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

try:
    import obstore
    from obstore.exceptions import BaseError
    from obstore.store import S3Store
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("S3PayloadStore needs the S3 extra: pip install 'durabletask-payloads[s3]'") from exc

from .._codec import FOUND, REPLACED, EncodedPayload, Existing, encode_payload, store_verified
from .._exceptions import InvalidPayloadTokenError, PayloadNotFoundError
from .._retry import RetryPolicy, retrying
from .._store import PayloadInfo, PayloadStore
from .._token import S3_V1_PREFIX, KeyToken, format_s3_token, is_content_name, parse_s3_token
from ._s3_objects import (
    attributes,
    decode_object,
    describe_object,
    failure,
    put_object,
    read_body,
    refusal,
)
from ._s3_options import S3PayloadStoreOptions
from ._store_urls import s3_url_settings

if TYPE_CHECKING:
    from obstore import Attributes, GetResult, PutMode
    from obstore.store import ClientConfig, RetryConfig, S3Config

__all__ = ["S3PayloadStore", "S3PayloadStoreOptions"]

_log = logging.getLogger("durabletask_payloads.stores.s3")
_T = TypeVar("_T")


class S3PayloadStore(PayloadStore):
    """Stores payloads as objects in an Amazon S3 bucket, or any S3-compatible one.

    Each distinct payload of an instance becomes one object named
    ``key_prefix`` + 32 lowercase hex characters, and the token is
    ``s3:v1:<bucket>:<key>``. An object is created only if absent
    (``If-None-Match: *``), so writing a payload twice, or two workers racing,
    leaves one object. Compressed objects carry ``Content-Encoding: gzip``;
    every object carries the payload's SHA-256, size and instance as metadata.

    Reads inflate only when the object says ``gzip`` and verify the SHA-256. A
    token for a bucket that is neither ``bucket`` nor in ``allowed_buckets``, or
    whose key does not start with ``key_prefix``, is refused before any request
    is made: a token is data, not a permission.

    The sync and async methods share one client, which works from any thread
    and any event loop. The async methods run obstore's blocking calls on the
    store's transfer threads (obstore releases the GIL while it waits) rather
    than obstore's own async API: that API completes calls on Rust threads that
    can still be taking the GIL back when the interpreter exits, which aborts
    the process (SIGABRT) in a few percent of exits right after an async call.

    Args:
        options: Bucket, credentials, retry and size settings.

    """

    def __init__(self, options: S3PayloadStoreOptions) -> None:
        self._options = options
        self._readable = frozenset((options.bucket, *options.allowed_buckets))
        self._retry = RetryPolicy.from_options(options)
        self._credentials = self._credential_provider()
        self._clients: dict[str, S3Store] = {}
        self._clients_lock = threading.Lock()
        self._client(options.bucket)  # a configuration error shows now, not at the first transfer

    @classmethod
    def from_url(cls, url: str, **options: Any) -> S3PayloadStore:
        """Build a store from ``s3://BUCKET[/KEY_PREFIX][?region=REGION&endpoint=URL]``.

        The path, when there is one, is the ``key_prefix`` (a ``/`` is added
        at its end if missing). Credentials never go in the URL: give them as
        keywords, a ``profile``, or leave them to the AWS chain.

        Args:
            url: The bucket, and optionally the key prefix, region and endpoint.
            **options: Further :class:`S3PayloadStoreOptions` fields; one the URL
                sets already is refused.

        Raises:
            TypeError: *url* is not a string, or an option has the wrong type.
            ValueError: The URL is not understood (the message says which part),
                or an option is out of range.

        """
        return cls(S3PayloadStoreOptions(**s3_url_settings(url, options)))

    def _credential_provider(self) -> Any:
        options = self._options
        if options.profile is None:
            return options.credential_provider
        try:
            import boto3
            from obstore.auth.boto3 import Boto3CredentialProvider
        except ImportError as exc:
            raise ImportError("S3PayloadStoreOptions.profile needs boto3: pip install boto3") from exc
        return Boto3CredentialProvider(boto3.Session(profile_name=options.profile))

    def _client(self, bucket: str) -> S3Store:
        client = self._clients.get(bucket)
        if client is None:
            with self._clients_lock:
                client = self._clients.get(bucket)
                if client is None:
                    client = self._new_client(bucket)
                    self._clients[bucket] = client
        return client

    def _new_client(self, bucket: str) -> S3Store:
        options = self._options
        config: S3Config = {}
        if options.region is not None:
            config["region"] = options.region
        if options.endpoint_url is not None:
            config["endpoint"] = options.endpoint_url
        # SSE settings, sent by obstore with every PUT (and, for SSE-C, every GET and HEAD).
        for setting, value in options.encryption_config().items():
            config[setting] = value  # type: ignore[literal-required]
        if options.access_key_id is not None and options.secret_access_key is not None:
            config["access_key_id"] = options.access_key_id
            config["secret_access_key"] = options.secret_access_key
            if options.session_token is not None:
                config["session_token"] = options.session_token
        client_options: ClientConfig = {
            "connect_timeout": timedelta(seconds=options.connect_timeout_seconds),
            "read_timeout": timedelta(seconds=options.read_timeout_seconds),
            "timeout": timedelta(seconds=options.attempt_timeout_seconds),
            "allow_http": (options.endpoint_url or "").startswith("http://"),
        }
        # Retries are ours (_retry.py decides what is transient): obstore's are off.
        retry: RetryConfig = {"max_retries": 0}
        return S3Store(
            bucket,
            config=config,
            client_options=client_options,
            retry_config=retry,
            credential_provider=self._credentials,
        )

    @property
    def options(self) -> S3PayloadStoreOptions:
        """The settings of this store."""
        return self._options

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        """``("s3:v1:",)``."""
        return (S3_V1_PREFIX,)

    # -- tokens -------------------------------------------------------------------------

    def is_known_token(self, value: str) -> bool:
        """Return whether *value* is a well-formed ``s3:v1:`` token (of any bucket)."""
        try:
            parse_s3_token(value)
        except InvalidPayloadTokenError:
            return False
        return True

    def _locate(self, token: str) -> KeyToken:
        """Parse a token this store may read; refuse others before any I/O."""
        parsed = parse_s3_token(token)
        if parsed.bucket not in self._readable:
            raise InvalidPayloadTokenError(
                token, f"bucket {parsed.bucket!r} is not this store's bucket or in allowed_buckets"
            )
        if parsed.prefix != self._options.key_prefix:
            raise InvalidPayloadTokenError(
                token, f"its key does not start with this store's key_prefix {self._options.key_prefix!r}"
            )
        return parsed

    # -- writing ------------------------------------------------------------------------

    def upload(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Store *data* as an object (once per instance and content) and return its token.

        A payload this store has recently moved (it is in :attr:`cache`) is only
        checked with a HEAD request: if the object is still there, nothing is
        sent. An object already at the key counts as stored only once it is
        verified to be this payload; anything else there is replaced, on the
        condition that it is still the object that was checked (``If-Match``).
        """
        encoded = encode_payload(data, self._options, instance_id)
        key = self._options.key_prefix + encoded.name
        token = format_s3_token(self._options.bucket, key)
        client = self._client(self._options.bucket)
        if token in self.cache and self._exists(client, key):
            return token
        headers = attributes(encoded, instance_id)
        retrying(lambda: self._store(client, key, token, encoded, headers), self._retry)
        return token

    def _store(
        self, client: S3Store, key: str, token: str, encoded: EncodedPayload, headers: Attributes
    ) -> None:
        def read() -> Existing | None:
            try:
                result = obstore.get(client, key)
            except FileNotFoundError:
                return None
            except (BaseError, OSError) as exc:
                raise failure(exc, "upload", token) from exc
            # Its body is read (within the read limit) only if it is checked.
            return Existing(
                result.meta["e_tag"], functools.partial(self._read_and_decode, result, token, key)
            )

        def replace(tag: object) -> bool:
            mode: PutMode = {"e_tag": str(tag)} if tag is not None else "create"
            return put_object(client, key, token, encoded, headers, mode=mode)

        outcome = store_verified(encoded, token, create=lambda: replace(None), read=read, replace=replace)
        if outcome == REPLACED:
            _log.warning("S3 object %s did not hold the payload its name certifies; replaced it", key)
        elif outcome == FOUND:
            _log.debug("S3 object %s already holds this payload", key)

    @staticmethod
    def _exists(client: S3Store, key: str) -> bool:
        """Whether an object exists; False when the check itself fails (the write then decides)."""
        try:
            obstore.head(client, key)
        except (BaseError, OSError):
            return False
        return True

    async def upload_async(self, data: bytes, *, instance_id: str | None = None) -> str:
        """Async twin of :meth:`upload` (on the transfer threads, see the class docstring)."""
        return await self._in_thread(functools.partial(self.upload, data, instance_id=instance_id))

    async def _in_thread(self, call: Callable[[], _T]) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor(), call)

    # -- reading ------------------------------------------------------------------------

    def _fetch(self, client: S3Store, key: str, token: str) -> tuple[GetResult, bytes]:
        """GET an object; one above the read limit is refused before its body is read."""
        try:
            result = obstore.get(client, key)
        except (BaseError, OSError) as exc:
            raise failure(exc, "download", token) from exc
        refused = refusal(result, token, self._options)
        if refused is not None:
            # Drop the response now, so its connection closes: a raised error's frames would keep it.
            del result
            raise refused
        return result, read_body(result, token)

    def _read_and_decode(self, result: GetResult, token: str, key: str) -> bytes:
        refused = refusal(result, token, self._options)
        if refused is not None:
            raise refused
        return decode_object(result, read_body(result, token), token, key, self._options)

    def download(self, token: str) -> bytes:
        """Return the payload behind *token*, verified against its name and SHA-256.

        An object above the read limit (``max_read_payload_bytes``) is refused
        from its size, before its body is read.
        """
        parsed = self._locate(token)
        assert parsed.bucket is not None  # S3 tokens always name one
        client = self._client(parsed.bucket)
        result, body = retrying(lambda: self._fetch(client, parsed.key, token), self._retry)
        _log.info("Read S3 object %s/%s (%d bytes stored)", parsed.bucket, parsed.key, len(body))
        return decode_object(result, body, token, parsed.key, self._options)

    async def download_async(self, token: str) -> bytes:
        """Async twin of :meth:`download` (on the transfer threads, see the class docstring)."""
        return await self._in_thread(functools.partial(self.download, token))

    # -- lifecycle ----------------------------------------------------------------------

    def delete(self, token: str) -> bool:
        """Delete the object behind *token*; False if it was already gone."""
        parsed = self._locate(token)
        assert parsed.bucket is not None
        self._forget(token)
        client = self._client(parsed.bucket)

        def delete() -> bool:
            try:
                # S3 answers a DELETE of a missing key with success: look first.
                obstore.head(client, parsed.key)
                obstore.delete(client, parsed.key)
            except FileNotFoundError:
                return False
            except (BaseError, OSError) as exc:
                raise failure(exc, "delete", token) from exc
            return True

        return retrying(delete, self._retry)

    def inspect(self, token: str) -> PayloadInfo:
        """Describe the object behind *token* from its metadata (a HEAD request, no download)."""
        parsed = self._locate(token)
        assert parsed.bucket is not None
        client = self._client(parsed.bucket)

        def head() -> GetResult:
            try:
                return obstore.get(client, parsed.key, options={"head": True})
            except (BaseError, OSError) as exc:
                raise failure(exc, "inspect", token) from exc

        return describe_object(token, retrying(head, self._retry))

    def list_payloads(self) -> Iterator[PayloadInfo]:
        """Yield every payload object (``key_prefix`` + 32 hex) in ``bucket``.

        Listing does not return metadata, so each object costs one HEAD request.
        """
        prefix = self._options.key_prefix
        client = self._client(self._options.bucket)
        # obstore lists whole path segments: list the prefix's folder, then keep our keys.
        folder = prefix[: prefix.rfind("/") + 1] or None
        try:
            for batch in obstore.list(client, folder):
                for meta in batch:
                    key = meta["path"]
                    if not key.startswith(prefix) or not is_content_name(key[len(prefix) :]):
                        continue
                    token = format_s3_token(self._options.bucket, key)
                    try:
                        yield self.inspect(token)
                    except PayloadNotFoundError:
                        continue  # deleted since it was listed
        except (BaseError, OSError) as exc:
            raise failure(exc, "list", self._options.bucket) from exc

    def close(self) -> None:
        """Drop the clients (their connections close with them) and the transfer threads."""
        with self._clients_lock:
            self._clients.clear()
        super().close()

"""Settings of the S3 store (no S3 client import: usable before the extra is installed)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

from .._deprecation import renamed_fields
from .._options import (
    RemoteStoreOptions,
    check_aes256_key,
    check_key_prefix,
    check_optional_str,
    check_timeouts,
    check_type,
    type_error,
)
from .._token import is_s3_bucket_name

__all__ = ["S3PayloadStoreOptions", "ServerSideEncryption"]

#: SSE modes a store may ask for by name; SSE-C is chosen by giving ``sse_customer_key``.
_SSE_MODES = ("AES256", "aws:kms", "aws:kms:dsse")
#: The values of ``server_side_encryption`` (as :data:`_SSE_MODES`, for type checkers).
ServerSideEncryption = Literal["AES256", "aws:kms", "aws:kms:dsse"]


def _check_bucket(name: str, value: object) -> str:
    check_type(name, value, str, "a bucket name (a string)")
    assert isinstance(value, str)
    if not is_s3_bucket_name(value):
        raise ValueError(
            f"{name} must be a valid S3 bucket name (3-63 characters: lowercase letters, digits, '.' and "
            f"'-', starting and ending with a letter or digit), got {value!r}"
        )
    return value


def _key_may_go_to(endpoint_url: str) -> bool:
    """Whether a customer key may be sent to *endpoint_url*: https, or http to this machine (tests)."""
    parts = urlsplit(endpoint_url)
    if parts.scheme == "https":
        return True
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@renamed_fields(timeout_seconds="attempt_timeout_seconds")
@dataclass(eq=True)
class S3PayloadStoreOptions(RemoteStoreOptions):
    """Settings of :class:`~durabletask_payloads.S3PayloadStore`.

    Only ``bucket`` is required. Credentials come from the environment by
    default; secrets are never shown by ``repr()`` and never logged.

    Size, compression and retry settings (``retry_total``, ``retry_backoff_seconds``)
    are those of :class:`~durabletask_payloads.RemoteStoreOptions`.

    Attributes:
        bucket: The bucket payloads are written to. It must exist: the store
            does not create buckets (that needs permissions and policies that
            payload writers should not hold).
        key_prefix: Put in front of each object's 32-hex name; default
            ``durabletask-payloads/``. Letters, digits and ``! - _ . * ' ( ) : /``,
            no empty, ``.`` or ``..`` segment. Tokens record the whole key, and a
            token is read only if its key starts with this prefix: changing it
            makes older tokens unreadable.
        region: The bucket's region, e.g. ``eu-west-1`` (default: ``AWS_REGION``
            or ``AWS_DEFAULT_REGION``, else ``us-east-1``).
        endpoint_url: For S3-compatible servers (MinIO, Ceph, R2, moto ...),
            e.g. ``http://127.0.0.1:9000``. Requests use path-style URLs.
        access_key_id: With ``secret_access_key`` (and ``session_token`` for
            temporary credentials): explicit credentials. Without them the usual
            chain is used: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
            ``AWS_SESSION_TOKEN``, web identity (EKS), the ECS task role, then the
            EC2 instance role.
        secret_access_key: See ``access_key_id``.
        session_token: See ``access_key_id``.
        profile: A profile of ``~/.aws/config`` and ``~/.aws/credentials``
            (including SSO and assumed roles), resolved by boto3, which must then
            be installed.
        credential_provider: Any callable returning a dict with
            ``access_key_id``, ``secret_access_key``, ``token`` and
            ``expires_at`` (obstore's ``S3CredentialProvider``), called again
            when the credentials expire.
        allowed_buckets: Further buckets whose tokens may be read. A token
            naming any other bucket is refused before any request is made.
        connect_timeout_seconds: Time allowed to connect. Default 10; at most 86,400.
        read_timeout_seconds: Time allowed between bytes of a response (each
            read; it restarts after every successful one). Default 60; at most 86,400.
        attempt_timeout_seconds: Time allowed for one whole attempt of a request,
            from connecting to the last byte of the body (obstore's ``timeout``);
            ``request_timeout_seconds`` bounds all attempts together. Default 60;
            at most 86,400. (Formerly ``timeout_seconds``, still accepted with a
            :class:`DeprecationWarning`.) S3 alone has it: the other stores'
            clients have no whole-attempt timeout.
        server_side_encryption: Encrypt objects at rest with keys S3 holds:
            ``"AES256"`` (SSE-S3), ``"aws:kms"`` (SSE-KMS) or ``"aws:kms:dsse"``
            (DSSE-KMS). None (the default) leaves it to the bucket's default
            encryption. Sent on every write; reads need nothing.
        sse_kms_key_id: The KMS key for SSE-KMS (an ID, ARN or alias);
            implies ``server_side_encryption="aws:kms"`` when that is not set.
        sse_customer_key: SSE-C: a 256-bit key of your own, base64-encoded, sent
            with every write and read (and HEAD) of every bucket this store
            reads; S3 keeps only its hash. Objects written with it cannot be
            read without it. Needs an https ``endpoint_url`` (or none: AWS),
            or plain http to a loopback address. Not shown by ``repr()``.
            Excludes the two above.

    """

    bucket: str = ""
    key_prefix: str = "durabletask-payloads/"
    region: str | None = None
    endpoint_url: str | None = None
    access_key_id: str | None = field(default=None, repr=False)
    secret_access_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    profile: str | None = None
    credential_provider: Any = field(default=None, repr=False)
    allowed_buckets: tuple[str, ...] = ()
    connect_timeout_seconds: float = 10.0
    read_timeout_seconds: float = 60.0
    attempt_timeout_seconds: float = 60.0
    server_side_encryption: ServerSideEncryption | None = None
    sse_kms_key_id: str | None = None
    sse_customer_key: str | None = field(default=None, repr=False)

    def _validate(self) -> None:
        super()._validate()
        _check_bucket("bucket", self.bucket)
        buckets: object = self.allowed_buckets  # typed as a tuple; given anything
        if isinstance(buckets, str) or not isinstance(buckets, (tuple, list, set, frozenset)):
            raise type_error("allowed_buckets", "a collection of bucket names (tuple, list or set)", buckets)
        names = tuple(_check_bucket("allowed_buckets", name) for name in buckets)
        object.__setattr__(self, "allowed_buckets", names)
        check_key_prefix(self.key_prefix)
        # Secrets among them: check_type names the type given, never the value.
        check_optional_str(
            self, "region", "endpoint_url", "access_key_id", "secret_access_key", "session_token", "profile"
        )
        if self.endpoint_url is not None and not self.endpoint_url.startswith(("https://", "http://")):
            raise ValueError(f"endpoint_url must be an http(s) URL, got {self.endpoint_url!r}")
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("give both access_key_id and secret_access_key, or neither")
        if self.session_token is not None and self.access_key_id is None:
            raise ValueError("session_token needs access_key_id and secret_access_key")
        ways = [
            self.access_key_id is not None,
            self.profile is not None,
            self.credential_provider is not None,
        ]
        if sum(ways) > 1:
            raise ValueError(
                "give at most one of access_key_id/secret_access_key, profile and credential_provider"
            )
        if self.credential_provider is not None and not callable(self.credential_provider):
            raise type_error("credential_provider", "a callable", self.credential_provider)
        check_timeouts(self, "connect_timeout_seconds", "read_timeout_seconds", "attempt_timeout_seconds")
        self._validate_encryption()

    def _validate_encryption(self) -> None:
        check_optional_str(self, "server_side_encryption", "sse_kms_key_id", "sse_customer_key")
        mode = self.server_side_encryption
        if mode is not None and mode not in _SSE_MODES:
            raise ValueError(
                f"server_side_encryption must be None or one of {', '.join(_SSE_MODES)}, got {mode!r} "
                "(for SSE-C give sse_customer_key)"
            )
        if self.sse_kms_key_id is not None:
            if not self.sse_kms_key_id.strip():
                raise ValueError(
                    f"sse_kms_key_id must be a KMS key ID, ARN or alias, got {self.sse_kms_key_id!r}"
                )
            if mode == "AES256":
                raise ValueError("sse_kms_key_id needs server_side_encryption 'aws:kms' or 'aws:kms:dsse'")
        if self.sse_customer_key is not None:
            # The key is a secret: it is never quoted.
            if mode is not None or self.sse_kms_key_id is not None:
                raise ValueError(
                    "sse_customer_key (SSE-C) excludes server_side_encryption and sse_kms_key_id"
                )
            check_aes256_key("sse_customer_key", self.sse_customer_key)
            if self.endpoint_url is not None and not _key_may_go_to(self.endpoint_url):
                raise ValueError(
                    "sse_customer_key needs an https:// endpoint_url (S3 refuses SSE-C over http, and the "
                    "key would cross the network in clear); plain http is allowed to a loopback address only"
                )

    def encryption_config(self) -> dict[str, str]:
        """Return the encryption settings as obstore's S3 configuration keys (secrets included)."""
        if self.sse_customer_key is not None:
            return {"server_side_encryption": "sse-c", "sse_customer_key_base64": self.sse_customer_key}
        config: dict[str, str] = {}
        mode = self.server_side_encryption or ("aws:kms" if self.sse_kms_key_id is not None else None)
        if mode is not None:
            config["server_side_encryption"] = mode
        if self.sse_kms_key_id is not None:
            config["sse_kms_key_id"] = self.sse_kms_key_id
        return config

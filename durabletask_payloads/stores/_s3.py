"""Amazon S3 (and S3-compatible) payload store: the one pipeline over an S3 driver per bucket."""

from __future__ import annotations

from typing import Any

try:
    import obstore  # noqa: F401 - fail here, with the extra to install, not deep in the driver
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("S3PayloadStore needs the S3 extra: pip install 'durabletask-payloads[s3]'") from exc

from .._driver import StorageDriver
from .._exceptions import InvalidPayloadTokenError
from .._pipeline import DriverPayloadStore
from .._token import S3_V1_PREFIX, parse_s3_token
from ._s3_driver import S3Driver
from ._s3_options import S3PayloadStoreOptions
from ._store_urls import s3_url_settings

__all__ = ["S3PayloadStore", "S3PayloadStoreOptions"]


class S3PayloadStore(DriverPayloadStore):
    """Stores payloads as objects in an Amazon S3 bucket, or any S3-compatible one.

    Each distinct payload of an instance becomes one object named
    ``key_prefix`` + 32 lowercase hex characters, and the token is
    ``s3:v1:<bucket>:<key>``. An object is created only if absent
    (``If-None-Match: *``), so writing a payload twice, or two workers racing,
    leaves one object; one already there counts as stored only once it is
    verified to be this payload, and anything else there is replaced on the
    condition that it is still the object checked (``If-Match``). Compressed
    objects carry ``Content-Encoding: gzip``; every object carries the
    payload's SHA-256, size and instance as metadata. A payload this store
    moved recently is only confirmed with a HEAD request.

    Reads inflate only when the object says ``gzip`` and verify the SHA-256;
    an object above the read limit is refused from its Content-Length, before
    its body is read. A token for a bucket that is neither ``bucket`` nor in
    ``allowed_buckets``, or whose key does not start with ``key_prefix``, is
    refused before any request is made: a token is data, not a permission.

    Each bucket has one client, which works from any thread and any event
    loop. The async methods run obstore's blocking calls in a worker thread
    (obstore releases the GIL while it waits) rather than obstore's own async
    API: that API completes calls on Rust threads that can still be taking the
    GIL back when the interpreter exits, which aborts the process (SIGABRT) in
    a few percent of exits right after an async call.

    Args:
        options: Bucket, credentials, retry and size settings.

    """

    def __init__(self, options: S3PayloadStoreOptions) -> None:
        credentials = _credential_provider(options)
        driver = S3Driver(options, options.bucket, credentials)
        # One driver per readable bucket: the token's bucket picks it (see _route).
        self._buckets = {options.bucket: driver}
        for bucket in options.allowed_buckets:
            self._buckets.setdefault(bucket, S3Driver(options, bucket, credentials))
        super().__init__(driver, options, readers=list(self._buckets.values())[1:])
        self._s3_options = options
        driver.client()  # a configuration error shows now, not at the first transfer

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

    @property
    def options(self) -> S3PayloadStoreOptions:
        """The settings of this store."""
        return self._s3_options

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        """``("s3:v1:",)``."""
        return (S3_V1_PREFIX,)

    def is_known_token(self, value: str) -> bool:
        """Return whether *value* is a well-formed ``s3:v1:`` token (of any bucket)."""
        try:
            parse_s3_token(value)
        except InvalidPayloadTokenError:
            return False
        return True

    def _route(self, token: str) -> tuple[StorageDriver, str]:
        """Pick the driver of a token this store may read; refuse others, saying why, before any I/O."""
        parsed = parse_s3_token(token)
        driver = self._buckets.get(parsed.bucket or "")
        if driver is None:
            raise InvalidPayloadTokenError(
                token, f"bucket {parsed.bucket!r} is not this store's bucket or in allowed_buckets"
            )
        if parsed.prefix != self._s3_options.key_prefix:
            raise InvalidPayloadTokenError(
                token, f"its key does not start with this store's key_prefix {self._s3_options.key_prefix!r}"
            )
        return driver, parsed.name


def _credential_provider(options: S3PayloadStoreOptions) -> Any:
    """Return the provider every bucket's client shares: the options' own, one for a profile, or None."""
    if options.profile is None:
        return options.credential_provider
    try:
        import boto3
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError as exc:
        raise ImportError("S3PayloadStoreOptions.profile needs boto3: pip install boto3") from exc
    return Boto3CredentialProvider(boto3.Session(profile_name=options.profile))

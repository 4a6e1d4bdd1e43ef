"""The S3 store's driver: one bucket's objects under ``key_prefix``, on obstore's Rust client.

The pipeline (:class:`~durabletask_payloads.DriverPayloadStore`) does sizes,
naming, gzip, verification and retries; this driver only moves one object at a
time and maps obstore's errors (:func:`._s3_objects.failure`). It keeps
obstore's blocking API only: the pipeline runs a flow of a driver without
native async in a worker thread, because obstore's own async calls complete on
Rust threads that can still be taking the GIL back when the interpreter exits,
which aborts the process (SIGABRT) in a few percent of exits.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import obstore
from obstore.exceptions import BaseError
from obstore.store import S3Store

from .._codec import max_stored_body
from .._driver import DriverCapabilities, ObjectInfo, PutItem, StorageDriver, StoredObject
from .._token import S3_V1_PREFIX, format_s3_token, is_content_name, parse_s3_token
from ._s3_objects import attributes, failure, object_meta, put_object
from ._s3_options import S3PayloadStoreOptions

if TYPE_CHECKING:
    from obstore import GetResult, PutMode
    from obstore.store import ClientConfig, RetryConfig, S3Config

__all__ = ["S3Driver"]

_log = logging.getLogger("durabletask_payloads.stores.s3")


class S3Driver(StorageDriver):
    """Objects ``key_prefix`` + name in one bucket; tokens ``s3:v1:<bucket>:<key>``.

    Args:
        options: The store's settings (endpoint, credentials, timeouts, encryption, key prefix).
        bucket: The bucket this driver reads and writes (the store's own, or an allowed one).
        credentials: The credential provider shared by the store's drivers, or None.

    """

    capabilities = DriverCapabilities(native_async=False, confirm=True)

    def __init__(self, options: S3PayloadStoreOptions, bucket: str, credentials: Any) -> None:
        self.options = options
        self.bucket = bucket
        self._credentials = credentials
        self._client: S3Store | None = None
        self._lock = threading.Lock()

    # -- tokens ---------------------------------------------------------------------------

    @property
    def token_prefixes(self) -> tuple[str, ...]:
        return (S3_V1_PREFIX,)

    def token_for(self, name: str) -> str:
        return format_s3_token(self.bucket, self.key(name))

    def name_of(self, token: str) -> str | None:
        try:
            parsed = parse_s3_token(token)
        except Exception:  # noqa: BLE001 - "not mine" is all a router needs to know
            return None
        if parsed.bucket != self.bucket or parsed.prefix != self.options.key_prefix:
            return None
        return parsed.name

    def key(self, name: str) -> str:
        """Return the object key of the content name *name*."""
        return self.options.key_prefix + name

    def describe(self) -> str:
        return f"the S3 bucket {self.bucket!r}"

    def missing(self, name: str) -> str:
        return "no such S3 object"

    # -- the client -------------------------------------------------------------------------

    def client(self) -> S3Store:
        """Return the bucket's client, made on first use (and again after :meth:`close`)."""
        client = self._client
        if client is None:
            with self._lock:
                client = self._client
                if client is None:
                    client = self._client = self._new_client()
        return client

    def _new_client(self) -> S3Store:
        options = self.options
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
        # Retries are the pipeline's (_retry.py decides what is transient): obstore's are off.
        retry: RetryConfig = {"max_retries": 0}
        return S3Store(
            self.bucket,
            config=config,
            client_options=client_options,
            retry_config=retry,
            credential_provider=self._credentials,
        )

    def close(self) -> None:
        """Drop the client: its connections close with it."""
        with self._lock:
            self._client = None

    # -- objects ----------------------------------------------------------------------------

    def put_one(self, item: PutItem) -> bool:
        return self.replace_one(item, None)

    def replace_one(self, item: PutItem, tag: object) -> bool:
        # If-None-Match: * to create, If-Match: <ETag> to replace exactly the object checked.
        mode: PutMode = {"e_tag": str(tag)} if tag is not None else "create"
        headers = attributes(item.payload, item.instance_id)
        return put_object(
            self.client(), self.key(item.name), self.token_for(item.name), item.payload, headers, mode=mode
        )

    def confirm_one(self, name: str) -> bool:
        """Whether the object is there (one HEAD); False also when the HEAD fails: the pipeline writes."""
        try:
            obstore.head(self.client(), self.key(name))
        except (BaseError, OSError):
            return False
        return True

    def get_one(self, name: str, max_bytes: int) -> StoredObject | None:
        key = self.key(name)
        token = self.token_for(name)
        try:
            result = obstore.get(self.client(), key)
        except FileNotFoundError:
            return None
        except (BaseError, OSError) as exc:
            raise failure(exc, "download", token) from exc
        meta = object_meta(result)
        size = int(result.meta["size"])
        tag = result.meta["e_tag"]
        # Content-Length decides before the body is read: an identity body is held to the read
        # limit itself, a gzip one to the pipeline's allowance for deflate's overhead.
        if size > min(max_bytes, max_stored_body(self.options, meta.content_encoding)):
            # Drop the response now, so its connection closes: a frame kept alive would keep it.
            del result
            return StoredObject(name, meta, size, None, tag=tag)
        try:
            body = result.bytes().to_bytes()
        except (BaseError, OSError) as exc:
            raise failure(exc, "download", token) from exc
        _log.info("Read S3 object %s/%s (%d bytes stored)", self.bucket, key, len(body))
        return StoredObject(name, meta, size, body, tag=tag)

    def head_one(self, name: str) -> ObjectInfo | None:
        result = self._head(name, "inspect")
        if result is None:
            return None
        return ObjectInfo(name, object_meta(result), int(result.meta["size"]))

    def _head(self, name: str, operation: str) -> GetResult | None:
        try:
            # A GET with head=True, not obstore.head: its answer carries the metadata headers.
            return obstore.get(self.client(), self.key(name), options={"head": True})
        except FileNotFoundError:
            return None
        except (BaseError, OSError) as exc:
            raise failure(exc, operation, self.token_for(name)) from exc

    def delete_one(self, name: str) -> bool:
        client = self.client()
        key = self.key(name)
        try:
            # S3 answers a DELETE of a missing key with success: look first.
            obstore.head(client, key)
            obstore.delete(client, key)
        except FileNotFoundError:
            return False
        except (BaseError, OSError) as exc:
            raise failure(exc, "delete", self.token_for(name)) from exc
        return True

    def list_objects(self) -> Iterator[ObjectInfo]:
        """Yield every payload object (``key_prefix`` + 32 hex); one HEAD each, as listing has no metadata."""
        prefix = self.options.key_prefix
        # obstore lists whole path segments: list the prefix's folder, then keep our keys.
        folder = prefix[: prefix.rfind("/") + 1] or None
        try:
            for batch in obstore.list(self.client(), folder):
                for entry in batch:
                    key = entry["path"]
                    name = key[len(prefix) :]
                    if not key.startswith(prefix) or not is_content_name(name):
                        continue
                    found = self.head_one(name)
                    if found is not None:  # else deleted since it was listed
                        yield found
        except (BaseError, OSError) as exc:
            raise failure(exc, "list", self.bucket) from exc

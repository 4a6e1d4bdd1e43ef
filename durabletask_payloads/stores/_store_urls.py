"""What an ``s3://`` or ``redis://`` URL says, as store options (no client import: usable before the extras).

Used by :meth:`S3PayloadStore.from_url`, :meth:`RedisPayloadStore.from_url` and
the command line's store specs. A URL can carry a credential (a Redis password,
user info), so no error here quotes one: messages name the part at fault.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._redact import strip_url

__all__ = ["REDIS_URL_PARAMETERS", "S3_URL_PARAMETERS", "redis_url_settings", "s3_url_settings"]

#: Query parameters of an ``s3://`` URL, and the option each sets.
S3_URL_PARAMETERS = {"region": "region", "endpoint": "endpoint_url", "endpoint_url": "endpoint_url"}
#: Query parameters of a Redis URL that are ours; redis-py reads the others (``protocol``, ...).
REDIS_URL_PARAMETERS = {"key_prefix": "key_prefix"}


def _merge(settings: dict[str, Any], options: dict[str, Any], url_kind: str) -> dict[str, Any]:
    twice = sorted(set(settings) & set(options))
    if twice:
        raise ValueError(f"{', '.join(twice)} given both in the {url_kind} URL and as keywords: give it once")
    return {**settings, **options}


def s3_url_settings(url: object, options: dict[str, Any]) -> dict[str, Any]:
    """Return the :class:`S3PayloadStoreOptions` fields of ``s3://BUCKET[/KEY_PREFIX][?region=R&endpoint=URL]``.

    *options* (further fields) are merged in; a field given both ways is refused.

    Raises:
        TypeError: *url* is not a string.
        ValueError: The URL is not an ``s3://`` URL with a bucket, carries user
            info, a fragment or an unknown parameter, or repeats a keyword.

    """
    if not isinstance(url, str):
        raise TypeError(f"the S3 URL must be a string, got {type(url).__name__}")
    shown = strip_url(url)
    try:
        parts = urlsplit(url)
        has_user = parts.username is not None or "@" in parts.netloc
    except ValueError:
        raise ValueError(f"not a valid URL: {shown!r} (give s3://BUCKET[/KEY_PREFIX])") from None
    if parts.scheme.lower() != "s3":
        raise ValueError(f"an S3 URL starts with s3://, got {shown!r}")
    if has_user:
        raise ValueError(
            f"an s3:// URL carries no credentials ({shown!r}): give access_key_id and secret_access_key, "
            "a profile, or let the AWS chain find them"
        )
    if parts.fragment:
        raise ValueError(f"an s3:// URL has no fragment: {shown!r}")
    if not parts.netloc:
        raise ValueError("an s3:// URL needs a bucket: s3://BUCKET[/KEY_PREFIX]")
    settings: dict[str, Any] = {"bucket": parts.netloc}
    prefix = parts.path.lstrip("/")
    if prefix:
        settings["key_prefix"] = prefix if prefix.endswith("/") else prefix + "/"
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        field = S3_URL_PARAMETERS.get(name)
        if field is None:
            known = ", ".join(sorted(S3_URL_PARAMETERS))
            raise ValueError(
                f"unknown parameter {name!r} in the s3:// URL {shown!r}: the known ones are {known}"
            )
        if field in settings:
            raise ValueError(f"the s3:// URL {shown!r} gives {field} twice")
        settings[field] = value
    return _merge(settings, options, "s3://")


def redis_url_settings(url: object, options: dict[str, Any]) -> dict[str, Any]:
    """Return the :class:`RedisPayloadStoreOptions` fields of a ``redis://``, ``rediss://``, ``unix://`` URL.

    Our parameters (``key_prefix``) are taken out of the query; the URL keeps
    the rest (host, password, database, redis-py's own parameters) as ``url``.
    *options* (further fields) are merged in; a field given both ways is refused.

    Raises:
        TypeError: *url* is not a string.
        ValueError: The URL has another scheme, or repeats a keyword. The URL
            itself is never quoted: it may hold a password.

    """
    if not isinstance(url, str):
        raise TypeError(f"the Redis URL must be a string, got {type(url).__name__}")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ValueError(
            "the Redis URL is not a valid URL (it is not shown: it may hold a password)"
        ) from None
    if parts.scheme.lower() not in ("redis", "rediss", "unix"):
        raise ValueError(
            f"a Redis URL starts with redis://, rediss:// or unix://, not {parts.scheme or '(none)'}:"
        )
    settings: dict[str, Any] = {}
    kept: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        field = REDIS_URL_PARAMETERS.get(name)
        if field is None:
            kept.append((name, value))
        elif field in settings:
            raise ValueError(f"the Redis URL gives {field} twice")
        else:
            settings[field] = value
    settings["url"] = urlunsplit(parts._replace(query=urlencode(kept))) if settings else url
    return _merge(settings, options, "Redis")

"""Keeping credentials out of tokens, errors and log lines.

A store may hold a secret in a URL (a SAS query string), in a connection
string (``AccountKey=``, ``SharedAccessSignature=``) or in a credential object.
None of them may reach a token, an exception message, a log line or anything
else that is stored or shown. Three tools here:

- :func:`strip_url` drops what in a URL can carry a credential (user info,
  query, fragment) before the URL is kept, formatted or compared;
- :func:`redact` masks credentials in free text (SAS signatures, connection
  string secrets, user info in URLs, and the secrets stores registered);
- :func:`install_log_redaction` and :func:`scrub_exception` apply :func:`redact`
  to the log records of the HTTP libraries underneath the SDKs (urllib3 logs
  every request's path and query at DEBUG) and to SDK exceptions before they
  are chained under ours (a connection error quotes the request URL, and
  durabletask copies chained messages into an orchestration's failure details).
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterable
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = [
    "REDACTED",
    "install_log_redaction",
    "redact",
    "register_secrets",
    "scrub_exception",
    "strip_url",
]

REDACTED = "REDACTED"

_PATTERNS = (
    # A SAS signature in a query string, plain or percent-encoded inside another URL.
    (re.compile(r"(?i)(\bsig=)[^&#\s'\"<>;]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)((?:%3F|%26)sig%3D)(?:(?!%26)[^&#\s'\"<>;])+"), r"\1" + REDACTED),
    # Connection string parts: a SAS contains '&' and '=', so it runs to the next ';'.
    (re.compile(r"(?i)(\bAccountKey=)[^;\s'\"]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)(\bSharedAccessSignature=)[^;\s'\"]+"), r"\1" + REDACTED),
    # user:password@ in any URL.
    (re.compile(r"(//)[^/@\s:'\"]+:[^/@\s'\"]+@"), r"\1" + REDACTED + "@"),
)
#: Text without any of these (lowercased) cannot match a pattern above.
_MARKERS = ("sig=", "sig%3d", "accountkey=", "sharedaccesssignature=", "@")
#: Shorter strings are not registered: masking them would mangle ordinary text.
_MIN_SECRET = 16

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()


def register_secrets(secrets: Iterable[str | None]) -> None:
    """Add literal secrets (account keys, SAS signatures) that :func:`redact` always masks.

    Each is registered as given and in its percent-encoded and decoded forms, as
    a signature appears either way depending on who prints it.
    """
    global _secrets
    found = set()
    for secret in secrets:
        if not secret:
            continue
        for form in (secret, quote(secret, safe=""), unquote(secret)):
            if len(form) >= _MIN_SECRET:
                found.add(form)
    if found - _secrets:
        with _lock:
            _secrets = _secrets | found


def redact(text: str) -> str:
    """Return *text* with every credential it contains replaced by ``REDACTED``."""
    lowered = text.lower()
    # Most text holds none of the patterns' anchors: skip the regular expressions then.
    if any(marker in lowered for marker in _MARKERS):
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def strip_url(url: str) -> str:
    """Return *url* without user info, query and fragment: the parts that can carry a credential.

    Text that does not parse as a URL is cut at its first ``?`` or ``#`` and
    passed through :func:`redact`.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc.rpartition("@")[2]
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return redact(re.split(r"[?#]", url, maxsplit=1)[0])


# -- exceptions -------------------------------------------------------------------------

#: Attributes of SDK and HTTP library exceptions that hold text shown by str() or tracebacks.
_TEXT_ATTRIBUTES = ("message", "reason", "url", "exc_msg")


def scrub_exception(exc: BaseException) -> BaseException:
    """Redact, in place, the messages of *exc* and of every exception chained to it; return *exc*.

    Covers ``args``, the text attributes azure-core, requests and urllib3 keep
    (``message``, ``reason``, ``url``), ``__cause__``, ``__context__``, azure-core's
    ``inner_exception`` and exceptions held in ``args``.
    """
    pending: list[object] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        with contextlib.suppress(AttributeError, TypeError):  # exotic exception types
            current.args = tuple(redact(a) if isinstance(a, str) else a for a in current.args)
        for name in _TEXT_ATTRIBUTES:
            value = getattr(current, name, None)
            if isinstance(value, str) and redact(value) != value:
                with contextlib.suppress(AttributeError, TypeError):  # a read-only property
                    setattr(current, name, redact(value))
        pending.extend(current.args)
        pending.extend((current.__cause__, current.__context__, getattr(current, "inner_exception", None)))
    return exc


# -- logging ----------------------------------------------------------------------------


class _RedactingFilter(logging.Filter):
    """Rewrites a record's message (and formatted traceback) when it holds a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's problem, not ours
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            text = logging.Formatter().formatException(record.exc_info)
            if redact(text) != text:
                record.exc_text = redact(text)
        return True


_FILTER = _RedactingFilter()
#: Loggers known to print request URLs (with their query) or SDK exception text.
_KNOWN_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.util.retry",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.core.pipeline.policies._universal",
    "azure.core.pipeline.transport._requests_basic",
    "azure.core.pipeline.transport._aiohttp",
    "azure.storage.blob._shared.policies",
    "azure.storage.blob._shared.policies_async",
    "azure.storage.blob._shared.base_client",
    "aiohttp.client",
    "durabletask_payloads",
    "durabletask_payloads.stores.azure_blob",
)
#: Every logger under these is filtered as well, when it exists at installation.
_FAMILIES = ("azure.", "urllib3.", "aiohttp.", "requests.", "durabletask_payloads.")


def install_log_redaction() -> None:
    """Attach the redacting filter to the loggers of the HTTP stack under the Azure SDK.

    A logger's filters see only records logged on that logger (not those of its
    children), so the filter goes on each logger that prints URLs, and on every
    existing logger of those libraries. Idempotent; called by each Azure store.
    """
    names = set(_KNOWN_LOGGERS)
    names.update(name for name in list(logging.root.manager.loggerDict) if name.startswith(_FAMILIES))
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)

"""Show a payload as it is: JSON indented without touching a token of it, anything else as raw text.

A browser's ``JSON.parse`` turns ``12345678901234567891`` into ``12345678901234567000``,
``10.50`` into ``10.5`` and refuses ``NaN`` (which Python's ``json.dumps`` writes by
default). So the viewer indents on the server, by moving whitespace only: every
string, number and literal comes out exactly as it was written, escapes included.
Nothing here does I/O.

Formats:

* ``json``: strict JSON (RFC 8259).
* ``json-nonstandard``: JSON but for ``NaN``, ``Infinity`` or ``-Infinity``, which
  Python and .NET can write and strict parsers refuse. Indented like JSON.
* ``text``: UTF-8 text that is not JSON, shown as written.
* ``binary``: not UTF-8; shown with U+FFFD for the bytes that do not decode.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

__all__ = ["Format", "Shown", "classify", "pretty", "show"]

Format = Literal["json", "json-nonstandard", "text", "binary"]

# A JSON text that json.loads accepted splits into these; whitespace between them is skipped.
# Strings are matched in the unrolled form, which is linear and does not recurse.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|[^\s{}\[\],:"]+', re.DOTALL)
_INDENT = "  "


class _NonStandardError(Exception):
    """Raised from json's parse_constant hook: NaN or Infinity seen."""


def _constant(name: str) -> float:
    raise _NonStandardError(name)


def _is_json(text: str, *, allow_constants: bool) -> bool:
    # parse_int/parse_float keep numbers as their text: no 4,300-digit limit, no float rounding,
    # and no cost of building numbers that are thrown away.
    try:
        json.loads(
            text,
            parse_int=str,
            parse_float=str,
            parse_constant=(lambda name: name) if allow_constants else _constant,
        )
    except (ValueError, RecursionError):
        return False
    return True


def classify(data: bytes) -> tuple[Format, str]:
    """Return the format of *data* and its text (decoded with U+FFFD when it is not UTF-8)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary", data.decode("utf-8", "replace")
    try:
        if _is_json(text, allow_constants=False):
            return "json", text
    except _NonStandardError:
        return ("json-nonstandard" if _is_json(text, allow_constants=True) else "text"), text
    return "text", text


def _pieces(text: str) -> Iterator[str]:
    """Yield *text* (valid JSON) re-indented, two spaces a level, in pieces."""
    depth = 0
    opened = False  # the last token opened a container: a newline is owed unless it closes at once
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("}", "]"):
            depth -= 1
            yield token if opened else "\n" + _INDENT * depth + token
            opened = False
            continue
        if opened:
            yield "\n" + _INDENT * depth
            opened = False
        if token in ("{", "["):
            depth += 1
            opened = True
            yield token
        elif token == ",":  # noqa: S105 - JSON punctuation, not a secret
            yield ",\n" + _INDENT * depth
        elif token == ":":  # noqa: S105
            yield ": "
        else:
            yield token


def pretty(text: str, limit: int | None = None) -> tuple[str, bool]:
    """Indent *text*, which must be JSON (NaN and Infinity allowed), moving only whitespace.

    Args:
        text: A JSON text, as :func:`classify` found it.
        limit: Stop once this many UTF-8 bytes are written (cut at a character boundary).

    Returns:
        The indented text and whether it is complete (False when cut at *limit*).

    """
    if limit is None:
        return "".join(_pieces(text)), True
    out: list[str] = []
    written = 0  # characters: never more than the bytes they encode to
    pieces = _pieces(text)
    for piece in pieces:
        out.append(piece)
        written += len(piece)
        if written >= limit:
            cut, whole = _cut("".join(out), limit)
            return cut, whole and next(pieces, None) is None
    return _cut("".join(out), limit)  # fewer characters than the limit may still be more bytes


def _cut(text: str, limit: int) -> tuple[str, bool]:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text, True
    return encoded[:limit].decode("utf-8", "ignore"), False


@dataclass(frozen=True)
class Shown:
    """A payload as the viewer shows it.

    Attributes:
        format: See the module's docstring.
        text: What to show: indented JSON, or the text as written; at most the
            preview's bytes.
        complete: False when *text* is a preview cut at the limit.
        indented: Whether *text* was re-indented (JSON), rather than shown as written.

    """

    format: Format
    text: str
    complete: bool
    indented: bool


def show(data: bytes, limit: int | None = None) -> Shown:
    """Classify *data* and render it for display, at most *limit* UTF-8 bytes of it."""
    kind, text = classify(data)
    if kind in ("json", "json-nonstandard"):
        shown, complete = pretty(text, limit)
        return Shown(kind, shown, complete, indented=True)
    if limit is None:
        return Shown(kind, text, True, indented=False)
    shown, complete = _cut(text, limit)
    return Shown(kind, shown, complete, indented=False)

"""Indenting JSON on the server without changing a token of it; everything else shown as written."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from durabletask_payloads._json_pretty import classify, pretty, show

_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[^\s"]+')


def tokens(text: str) -> list[str]:
    """Strings whole, everything else split on whitespace: what indenting must not change."""
    return [
        t
        for m in _TOKEN.finditer(text)
        for t in ([m.group()] if m.group().startswith('"') else list(m.group()))
    ]


def as_written(text: str) -> Any:
    """Parse keeping every number as its text, so 10.50 and 10.5 differ."""
    return json.loads(text, parse_int=str, parse_float=str, parse_constant=str)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


class TestClassify:
    @pytest.mark.parametrize(
        ("data", "kind"),
        [
            (b'{"a": 1}', "json"),
            (b"12345678901234567891", "json"),
            (b' "text in quotes" ', "json"),
            (b'{"x": NaN, "y": -Infinity}', "json-nonstandard"),
            (b"[Infinity]", "json-nonstandard"),
            (b'{"x": NaN', "text"),  # NaN, but broken anyway
            (b"plain words", "text"),
            (b"{'single': 'quotes'}", "text"),
            (b"", "text"),
            (b"\xff\xfe\x00", "binary"),
        ],
    )
    def test_formats(self, data: bytes, kind: str) -> None:
        assert classify(data)[0] == kind

    def test_a_number_longer_than_python_converts_is_still_json(self) -> None:
        """int() refuses more than 4,300 digits; the viewer never converts numbers at all."""
        digits = "9" * 5000
        assert classify(f'{{"n": {digits}}}'.encode()) == ("json", f'{{"n": {digits}}}')
        assert digits in pretty(f'{{"n": {digits}}}')[0]

    def test_nesting_too_deep_for_the_parser_is_text(self) -> None:
        deep = "[" * 100_000 + "]" * 100_000
        assert classify(deep.encode())[0] == "text"


class TestPretty:
    def test_numbers_strings_and_literals_come_out_as_written(self) -> None:
        text = (
            '{"big":12345678901234567891,"price":10.50,"tiny":1E-400,"r":NaN,"s":"\\u00e9\\n","e":{},"l":[]}'
        )
        shown, complete = pretty(text)
        assert complete
        assert shown == (
            "{\n"
            '  "big": 12345678901234567891,\n'
            '  "price": 10.50,\n'
            '  "tiny": 1E-400,\n'
            '  "r": NaN,\n'
            '  "s": "\\u00e9\\n",\n'
            '  "e": {},\n'
            '  "l": []\n'
            "}"
        )

    def test_whitespace_inside_strings_is_kept(self) -> None:
        assert pretty('["a  b", " { [ , : ] } "]')[0] == '[\n  "a  b",\n  " { [ , : ] } "\n]'

    @settings(max_examples=300, deadline=None)
    @given(json_values, st.sampled_from([None, 0, 1, 3, "\t"]))
    def test_only_whitespace_changes(self, value: Any, indent: Any) -> None:
        text = json.dumps(value, indent=indent, ensure_ascii=False)
        shown, complete = pretty(text)
        assert complete
        assert tokens(shown) == tokens(text)
        assert as_written(shown) == as_written(text)

    @settings(max_examples=200, deadline=None)
    @given(json_values, st.integers(min_value=1, max_value=400))
    def test_a_preview_is_the_start_of_the_whole(self, value: Any, limit: int) -> None:
        text = json.dumps(value, ensure_ascii=False)
        whole, _ = pretty(text)
        cut, complete = pretty(text, limit)
        assert whole.startswith(cut)
        assert len(cut.encode()) <= limit
        assert complete == (cut == whole)
        if not complete:
            assert len(cut.encode()) > limit - 4  # cut at a character boundary, nothing more

    def test_a_preview_of_a_large_document_reads_only_its_start(self) -> None:
        text = json.dumps([{"n": n} for n in range(200_000)])
        cut, complete = pretty(text, 1000)
        assert not complete and len(cut.encode()) == 1000


class TestShow:
    def test_text_is_shown_as_written_and_cut_at_a_character_boundary(self) -> None:
        shown = show(("é" * 10 + " x").encode(), 5)
        assert (shown.format, shown.text, shown.complete, shown.indented) == ("text", "éé", False, False)

    def test_binary_is_marked(self) -> None:
        shown = show(b"\x80abc")
        assert (shown.format, shown.text) == ("binary", "\ufffdabc")

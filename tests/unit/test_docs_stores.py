"""The "writing your own store" example of docs/stores.md runs as printed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from durabletask_payloads import InvalidPayloadTokenError, PayloadNotFoundError, PayloadStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "stores.md"


def _example_blocks() -> list[str]:
    section = DOC.read_text(encoding="utf-8").split("## Writing your own store", 1)[1]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_the_sqlite_store_of_the_docs_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocks = _example_blocks()
    assert len(blocks) == 2
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # the class
    exec(compile(blocks[1], str(DOC), "exec"), namespace)  # its round trip, as printed
    assert (tmp_path / "payloads.db").exists()

    store_type = namespace["SQLitePayloadStore"]
    assert isinstance(store_type, type) and issubclass(store_type, PayloadStore)
    store = store_type(str(tmp_path / "payloads.db"))
    try:
        token = store.upload(b"x" * 3000, instance_id="i")
        assert store.is_known_token(token) and token.startswith(store.token_prefixes)
        assert store.upload(b"x" * 3000, instance_id="j") != token
        with pytest.raises(PayloadNotFoundError):
            store.download(token[:-64] + "0" * 64)
        with pytest.raises(InvalidPayloadTokenError):
            store.download("sqlite:v1:../etc")
    finally:
        store.close()

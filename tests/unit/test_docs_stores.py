"""The "writing your own store" example of docs/stores.md runs as printed."""

from __future__ import annotations

from pathlib import Path

import pytest

from durabletask_payloads import (
    DriverPayloadStore,
    InvalidPayloadTokenError,
    PayloadNotFoundError,
    PayloadStore,
    StorageDriver,
)

from ..stores.docs_example import DOC, example_blocks


def test_the_sqlite_driver_of_the_docs_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's two blocks run as printed, and the driver makes a working payload store."""
    monkeypatch.chdir(tmp_path)
    blocks = example_blocks()
    assert len(blocks) == 2
    namespace: dict[str, object] = {"__name__": "docs_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # the driver
    exec(compile(blocks[1], str(DOC), "exec"), namespace)  # its round trip, as printed
    assert (tmp_path / "payloads.db").exists()

    driver_type = namespace["SQLiteDriver"]
    assert isinstance(driver_type, type) and issubclass(driver_type, StorageDriver)
    store = DriverPayloadStore(driver_type(str(tmp_path / "payloads.db")))
    assert isinstance(store, PayloadStore)
    try:
        token = store.upload(b"x" * 3000, instance_id="i")
        assert store.is_known_token(token) and token.startswith(store.token_prefixes)
        assert store.upload(b"x" * 3000, instance_id="j") != token
        with pytest.raises(PayloadNotFoundError):
            store.download(token[:-32] + "0" * 32)
        with pytest.raises(InvalidPayloadTokenError):
            store.download("sqlite:v1:../etc")
    finally:
        store.close()

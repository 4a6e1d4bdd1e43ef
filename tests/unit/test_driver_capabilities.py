"""Two driver capabilities the Blob driver brought to the pipeline: ``confirm`` and ``foreign_names``.

``confirm``: a payload the store moved recently is confirmed with the driver's one cheap check, and
when that finds nothing (or fails) the pipeline does the whole verified write, never reporting an
unverified "already there". ``foreign_names``: objects other SDKs write under version-4 GUID names
are read, checked against their recorded hash, instead of refused for a name they never claimed to
derive. A recording driver (a fake: this is a unit test) logs every call.
"""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from durabletask_payloads import (
    DriverCapabilities,
    DriverPayloadStore,
    LargePayloadStorageOptions,
    ObjectMeta,
    PayloadIntegrityError,
    PutItem,
    StorageDriver,
    StoredObject,
)

OPTIONS = LargePayloadStorageOptions(threshold_bytes=10)
#: What .NET's Guid.NewGuid().ToString("N") looks like: version digit 4, variant 8-b.
GUID_NAME = "5f0c4b1e9a7d4c2e8b3a6d1f0e9c8b7a"


class Confirming(StorageDriver):
    """Objects in a dictionary, with a confirm that answers from it (or as told)."""

    scheme = "conf"

    def __init__(self, *, foreign_names: bool = False, confirm_answer: bool | None = None) -> None:
        self.capabilities = DriverCapabilities(confirm=True, foreign_names=foreign_names)
        self.objects: dict[str, tuple[bytes, ObjectMeta]] = {}
        self.calls: list[str] = []
        self.confirm_answer = confirm_answer

    def put_one(self, item: PutItem) -> bool:
        self.calls.append("put")
        if item.name in self.objects:
            return False
        self.objects[item.name] = (item.body, item.meta)
        return True

    def replace_one(self, item: PutItem, tag: object) -> bool:
        self.calls.append("replace")
        self.objects[item.name] = (item.body, item.meta)
        return True

    def get_one(self, name: str, max_bytes: int) -> StoredObject | None:
        self.calls.append("get")
        if name not in self.objects:
            return None
        body, meta = self.objects[name]
        return StoredObject(name, meta, len(body), body)

    def confirm_one(self, name: str) -> bool:
        self.calls.append("confirm")
        return name in self.objects if self.confirm_answer is None else self.confirm_answer


def _moved_recently(driver: Confirming, data: bytes) -> DriverPayloadStore:
    store = DriverPayloadStore(driver, OPTIONS)
    store.upload_many([data])  # the batch methods fill the cache
    driver.calls.clear()
    return store


class TestConfirm:
    def test_a_payload_moved_recently_is_one_confirm(self) -> None:
        driver = Confirming()
        store = _moved_recently(driver, b"payload")
        store.upload_many([b"payload"])
        assert driver.calls == ["confirm"]

    def test_the_async_twin_confirms_too(self) -> None:
        driver = Confirming()
        store = _moved_recently(driver, b"payload")
        asyncio.run(store.upload_many_async([b"payload"]))
        assert driver.calls == ["confirm"]

    def test_nothing_there_is_written_again(self) -> None:
        driver = Confirming()
        store = _moved_recently(driver, b"payload")
        driver.objects.clear()  # deleted behind the store's back
        store.upload_many([b"payload"])
        assert driver.calls == ["confirm", "put"]
        assert len(driver.objects) == 1

    def test_a_failed_check_falls_back_to_the_verified_write(self) -> None:
        driver = Confirming(confirm_answer=False)  # the check failed, though the object is there
        store = _moved_recently(driver, b"payload")
        name = next(iter(driver.objects))
        driver.objects[name] = (b"planted", driver.objects[name][1])
        [token] = store.upload_many([b"payload"])
        # Never "there" unverified: the taken name is read back, found bad, and replaced.
        assert driver.calls == ["confirm", "put", "get", "replace"]
        assert store.download(token) == b"payload"


class TestForeignNames:
    @staticmethod
    def _foreign(driver: Confirming, body: bytes, sha256: str | None) -> str:
        driver.objects[GUID_NAME] = (body, ObjectMeta(sha256=sha256))
        return driver.token_for(GUID_NAME)

    def test_a_guid_name_is_read_when_the_driver_says_others_write_there(self) -> None:
        driver = Confirming(foreign_names=True)
        token = self._foreign(driver, b'"from .NET"', None)
        assert DriverPayloadStore(driver, OPTIONS).download(token) == b'"from .NET"'

    def test_its_recorded_hash_is_still_checked(self) -> None:
        driver = Confirming(foreign_names=True)
        token = self._foreign(driver, b'"changed"', hashlib.sha256(b'"original"').hexdigest())
        with pytest.raises(PayloadIntegrityError, match="SHA-256"):
            DriverPayloadStore(driver, OPTIONS).download(token)

    def test_without_the_capability_a_guid_name_must_name_its_content(self) -> None:
        driver = Confirming(foreign_names=False)
        token = self._foreign(driver, b'"from .NET"', None)
        with pytest.raises(PayloadIntegrityError, match="does not match its name"):
            DriverPayloadStore(driver, OPTIONS).download(token)

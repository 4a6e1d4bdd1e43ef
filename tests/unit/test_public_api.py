"""The public surface: one import, a sorted and complete __all__, documented names."""

from __future__ import annotations

import inspect

import pytest

import durabletask_payloads
from durabletask_payloads import InMemoryPayloadStore, aio


class TestExports:
    def test_all_is_sorted(self) -> None:
        assert durabletask_payloads.__all__ == sorted(durabletask_payloads.__all__)

    def test_every_exported_name_exists(self) -> None:
        for name in durabletask_payloads.__all__:
            assert hasattr(durabletask_payloads, name), name

    def test_every_public_attribute_is_exported(self) -> None:
        public = {
            name
            for name, value in vars(durabletask_payloads).items()
            if not name.startswith("_") and not inspect.ismodule(value)
        }
        assert public <= set(durabletask_payloads.__all__) | {"annotations"}

    def test_issue_names_are_importable_from_the_package(self) -> None:
        from durabletask_payloads import (  # noqa: F401
            AsyncTaskHubGrpcClient,
            FileSystemPayloadStore,
            InMemoryPayloadStore,
            InvalidPayloadTokenError,
            LargePayloadStorageOptions,
            PayloadError,
            PayloadIntegrityError,
            PayloadNotFoundError,
            PayloadStore,
            PayloadTooLargeError,
            TaskHubGrpcClient,
            TaskHubGrpcWorker,
            deexternalize_payloads,
            deexternalize_payloads_async,
            externalize_payloads,
            externalize_payloads_async,
            payload_interceptors,
        )

    def test_the_driver_contract_is_exported(self) -> None:
        """A custom backend needs only these: the contract, its value types, the pipeline, store_failure."""
        from durabletask_payloads import (
            DriverCapabilities,
            DriverPayloadStore,
            ObjectInfo,
            ObjectMeta,
            PutItem,
            StorageDriver,
            StoredObject,
            store_failure,
        )

        assert issubclass(DriverPayloadStore, durabletask_payloads.PayloadStore)
        assert issubclass(durabletask_payloads.InMemoryPayloadStore, DriverPayloadStore)
        assert issubclass(durabletask_payloads.FileSystemPayloadStore, DriverPayloadStore)
        assert inspect.isabstract(StorageDriver)
        assert callable(store_failure)
        for value_type in (DriverCapabilities, ObjectInfo, ObjectMeta, PutItem, StoredObject):
            assert value_type.__dataclass_params__.frozen, value_type  # type: ignore[attr-defined]

    def test_aio_all_is_sorted_and_exported_from_the_root(self) -> None:
        assert aio.__all__ == sorted(aio.__all__)
        for name in aio.__all__:
            assert getattr(durabletask_payloads, name) is getattr(aio, name)


class TestAsyncConvention:
    """One convention, durabletask's: ``Async…`` classes, ``…_async`` functions and methods."""

    def test_async_interceptor_names(self) -> None:
        assert aio.AsyncPayloadInterceptor is durabletask_payloads.AsyncPayloadInterceptor
        assert aio.payload_interceptors_async is durabletask_payloads.payload_interceptors_async

    def test_old_aio_class_name_works_and_warns(self) -> None:
        with pytest.warns(DeprecationWarning, match=r"aio\.PayloadInterceptor .*AsyncPayloadInterceptor"):
            old = aio.PayloadInterceptor
        assert old is aio.AsyncPayloadInterceptor

    def test_old_aio_function_name_works_and_warns(self) -> None:
        store = InMemoryPayloadStore()
        with pytest.warns(DeprecationWarning, match="payload_interceptors_async"):
            from durabletask_payloads.aio import payload_interceptors
        interceptors = payload_interceptors(store)
        assert len(interceptors) == 4
        assert interceptors[0].owner.store is store

    def test_an_unknown_aio_name_is_still_an_attribute_error(self) -> None:
        with pytest.raises(AttributeError, match="no_such_name"):
            _ = aio.no_such_name  # type: ignore[attr-defined]

    def test_every_public_async_callable_follows_the_convention(self) -> None:
        """Coroutine functions end in ``_async``; a class whose methods are all async is ``Async…``.

        Exempt, by design: the protocol names Python and grpc.aio call
        (``__aenter__``, ``aclose``, ``intercept_*``), and the methods of an
        ``Async…`` class, which keep the sync names as durabletask's own
        ``AsyncTaskHubGrpcClient`` does.
        """
        exempt = {"__aenter__", "__aexit__", "aclose"}
        wrong = []
        surfaces = [(durabletask_payloads, durabletask_payloads.__all__), (aio, aio.__all__)]
        for module, names in surfaces:
            for name in names:
                value = getattr(module, name)
                if inspect.iscoroutinefunction(value) and not name.endswith("_async"):
                    wrong.append(name)
                if not inspect.isclass(value) or name.startswith("Async"):
                    continue
                for attr, member in inspect.getmembers(value):
                    if attr in exempt or attr.startswith(("_", "intercept_")):
                        continue
                    if inspect.iscoroutinefunction(member) and not attr.endswith("_async"):
                        wrong.append(f"{name}.{attr}")
        assert wrong == []


class TestDocstrings:
    def test_every_public_name_and_method_is_documented(self) -> None:
        missing = []
        for name in durabletask_payloads.__all__:
            value = getattr(durabletask_payloads, name)
            if isinstance(value, str):
                continue
            if not inspect.getdoc(value):
                missing.append(name)
            if inspect.isclass(value):
                for attr, member in vars(value).items():
                    if attr.startswith("_") or (not callable(member) and not isinstance(member, property)):
                        continue
                    if not inspect.getdoc(member):
                        missing.append(f"{name}.{attr}")
        assert missing == []

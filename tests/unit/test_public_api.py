"""The public surface: one import, a sorted and complete __all__, documented names."""

from __future__ import annotations

import inspect

import durabletask_payloads
from durabletask_payloads import aio


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

    def test_aio_twins_have_the_sync_names(self) -> None:
        assert aio.PayloadInterceptor.__name__ == durabletask_payloads.PayloadInterceptor.__name__
        assert aio.payload_interceptors.__name__ == durabletask_payloads.payload_interceptors.__name__


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

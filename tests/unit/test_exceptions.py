"""The error tree: one root, messages that name cause and fix, never payload data."""

from __future__ import annotations

import pickle

import pytest

import durabletask_payloads as dp


class TestHierarchy:
    @pytest.mark.parametrize(
        "cls",
        [
            dp.PayloadTooLargeError,
            dp.PayloadNotFoundError,
            dp.PayloadIntegrityError,
            dp.InvalidPayloadTokenError,
            dp.PayloadStoreUnavailableError,
        ],
    )
    def test_every_error_is_a_payload_error(self, cls: type[Exception]) -> None:
        assert issubclass(cls, dp.PayloadError)

    def test_invalid_token_is_also_a_value_error(self) -> None:
        assert issubclass(dp.InvalidPayloadTokenError, ValueError)

    def test_errors_report_the_public_module(self) -> None:
        """Failure details in histories then read durabletask_payloads.<Name>."""
        assert dp.PayloadNotFoundError.__module__ == "durabletask_payloads"


class TestMessages:
    def test_too_large_names_size_limit_and_setting(self) -> None:
        err = dp.PayloadTooLargeError(12_000_000, 10_485_760)
        text = str(err)
        assert "12,000,000 bytes" in text
        assert "10,485,760 bytes" in text
        assert "max_stored_payload_bytes" in text
        assert (err.size, err.limit) == (12_000_000, 10_485_760)

    def test_not_found_names_the_token(self) -> None:
        err = dp.PayloadNotFoundError("blob:v1:c:0123", "HTTP 404")
        assert "'blob:v1:c:0123'" in str(err)
        assert "HTTP 404" in str(err)
        assert err.token == "blob:v1:c:0123"

    def test_integrity_names_token_and_reason(self) -> None:
        err = dp.PayloadIntegrityError("file:v1:ab", "SHA-256 mismatch")
        assert "'file:v1:ab'" in str(err)
        assert "SHA-256 mismatch" in str(err)

    def test_a_huge_token_is_shortened_in_messages(self) -> None:
        token = "blob:v1:c:" + "a" * 100_000
        text = str(dp.InvalidPayloadTokenError(token, "too long"))
        assert len(text) < 400
        assert "100,010 characters" in text

    def test_unavailable_names_operation_target_and_settings(self) -> None:
        text = str(dp.PayloadStoreUnavailableError("download", "blob:v1:c:n", "HTTP 503 after 5 attempts"))
        assert "download" in text
        assert "'blob:v1:c:n'" in text
        assert "HTTP 503 after 5 attempts" in text
        assert "retry settings" in text


class TestPickling:
    @pytest.mark.parametrize(
        "err",
        [
            dp.PayloadTooLargeError(5, 4),
            dp.PayloadNotFoundError("t", "d"),
            dp.PayloadIntegrityError("t", "r"),
            dp.InvalidPayloadTokenError("t", "r"),
            dp.PayloadStoreUnavailableError("upload", "t", "d"),
            dp.PayloadTooLargeError(5, 4, setting="max_payload_bytes"),
            dp.PayloadReadLimitError("t", 9, 8, setting="max_read_payload_bytes"),
            dp.PayloadStoreRefusedError("delete", "t", "HTTP 403"),
            dp.UnsupportedOperationError("SomeStore", "list"),
            dp.PayloadError("a message of its own"),
            dp.PayloadStoreClosedError("BlobPayloadStore", "upload", "t"),
        ],
    )
    def test_round_trips_with_the_same_message(self, err: dp.PayloadError) -> None:
        """Errors cross process boundaries (multiprocessing, executors) intact."""
        clone = pickle.loads(pickle.dumps(err))
        assert type(clone) is type(err)
        assert str(clone) == str(err)
        assert vars(clone) == vars(err)

    def test_every_error_class_says_what_rebuilds_it(self) -> None:
        """Each subclass lists its constructor's parameters, so none falls back to ``args`` alone."""
        import inspect

        for cls in (c for c in vars(dp).values() if isinstance(c, type) and issubclass(c, dp.PayloadError)):
            if cls is dp.PayloadError:
                continue
            parameters = set(inspect.signature(cls.__init__).parameters) - {"self", "transient"}
            assert set(cls._pickled) == parameters, cls

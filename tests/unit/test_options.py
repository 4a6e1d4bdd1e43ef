"""LargePayloadStorageOptions: defaults, validation when built, read-only afterwards."""

from __future__ import annotations

import dataclasses

import pytest
from durabletask.payload import LargePayloadStorageOptions as UpstreamOptions

from durabletask_payloads import LargePayloadStorageOptions


class TestDefaults:
    def test_match_the_dotnet_defaults(self) -> None:
        """256 KiB threshold, 10 MiB maximum, compression on."""
        options = LargePayloadStorageOptions()
        assert options.threshold_bytes == 262_144
        assert options.max_stored_payload_bytes == 10 * 1024 * 1024
        assert options.enable_compression is True

    def test_is_accepted_where_durabletask_expects_its_own_options(self) -> None:
        assert isinstance(LargePayloadStorageOptions(), UpstreamOptions)


class TestValidation:
    @pytest.mark.parametrize("threshold", [0, -1, 1024 * 1024 + 1])
    def test_threshold_out_of_range_names_field_and_range(self, threshold: int) -> None:
        with pytest.raises(ValueError, match=r"threshold_bytes must be between 1 and 1,048,576") as info:
            LargePayloadStorageOptions(threshold_bytes=threshold)
        assert f"{threshold:,}" in str(info.value)

    @pytest.mark.parametrize("threshold", [1, 1024, 1024 * 1024])
    def test_threshold_bounds_are_inclusive(self, threshold: int) -> None:
        assert LargePayloadStorageOptions(threshold_bytes=threshold).threshold_bytes == threshold

    def test_maximum_below_threshold_is_refused(self) -> None:
        with pytest.raises(
            ValueError, match=r"max_stored_payload_bytes must be at least threshold_bytes \(1,000\)"
        ):
            LargePayloadStorageOptions(threshold_bytes=1000, max_stored_payload_bytes=999)

    def test_maximum_equal_to_threshold_is_allowed(self) -> None:
        options = LargePayloadStorageOptions(threshold_bytes=1000, max_stored_payload_bytes=1000)
        assert options.max_stored_payload_bytes == 1000

    @pytest.mark.parametrize("value", [True, 1.5, "1024", None])
    def test_threshold_of_another_type_is_a_type_error(self, value: object) -> None:
        """A wrong type is a TypeError naming the field, the expected type and the type given."""
        with pytest.raises(
            TypeError, match=rf"threshold_bytes must be an int .*, got {type(value).__name__}$"
        ):
            LargePayloadStorageOptions(threshold_bytes=value)  # type: ignore[arg-type]

    def test_compression_flag_must_be_a_bool(self) -> None:
        with pytest.raises(TypeError, match=r"enable_compression must be True or False \(a bool\), got str"):
            LargePayloadStorageOptions(enable_compression="yes")  # type: ignore[arg-type]


class TestImmutability:
    def test_assignment_is_refused(self) -> None:
        options = LargePayloadStorageOptions()
        with pytest.raises(dataclasses.FrozenInstanceError, match=r"use dataclasses\.replace"):
            options.threshold_bytes = 1  # type: ignore[misc]
        assert options.threshold_bytes == 262_144

    def test_replace_validates_again(self) -> None:
        options = LargePayloadStorageOptions()
        assert dataclasses.replace(options, threshold_bytes=10).threshold_bytes == 10
        with pytest.raises(ValueError, match="threshold_bytes"):
            dataclasses.replace(options, threshold_bytes=0)

    def test_equal_options_compare_equal(self) -> None:
        assert LargePayloadStorageOptions(threshold_bytes=5) == LargePayloadStorageOptions(threshold_bytes=5)
        assert LargePayloadStorageOptions(threshold_bytes=5) != LargePayloadStorageOptions(threshold_bytes=6)


class TestCustomerKeys:
    """One check of customer-provided AES keys for every store (S3's SSE-C today)."""

    @pytest.mark.parametrize("value", ["bm90LWEta2V5", "not base64 at all!", ""])
    def test_a_key_that_is_not_32_bytes_is_refused_without_quoting_it(self, value: str) -> None:
        from durabletask_payloads._options import check_aes256_key

        with pytest.raises(ValueError, match="sse_customer_key must be a 256-bit") as caught:
            check_aes256_key("sse_customer_key", value)
        assert value not in str(caught.value) or not value

    def test_a_32_byte_key_passes(self) -> None:
        import base64

        from durabletask_payloads._options import check_aes256_key

        check_aes256_key("customer_provided_key", base64.b64encode(bytes(32)).decode())

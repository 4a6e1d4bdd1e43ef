"""RoutingPayloadStore: its own options are the one source of threshold and limit; contradictions fail."""

from __future__ import annotations

import pytest
from durabletask.internal import orchestrator_service_pb2 as pb

from durabletask_payloads import (
    InMemoryPayloadStore,
    LargePayloadStorageOptions,
    PayloadTooLargeError,
    RoutingPayloadStore,
    by_size,
    externalize_payloads,
)
from durabletask_payloads.stores._routing import SizeSelector

ROUTING = LargePayloadStorageOptions(threshold_bytes=100, max_stored_payload_bytes=10_000)


def _options(maximum: int, threshold: int = 100) -> LargePayloadStorageOptions:
    return LargePayloadStorageOptions(threshold_bytes=threshold, max_stored_payload_bytes=maximum)


def _message(*values: str) -> pb.OrchestratorResponse:
    message = pb.OrchestratorResponse(instanceId="i")
    for value in values:
        message.actions.add().scheduleTask.input.value = value
    return message


class TestWhichSettingWins:
    def test_the_routing_threshold_decides_not_the_inner_one(self) -> None:
        """The inner store's 5,000-byte threshold is not consulted: the routing store's 100 is."""
        inner = InMemoryPayloadStore(_options(10_000, threshold=5_000))
        store = RoutingPayloadStore([inner], options=ROUTING)
        assert externalize_payloads(_message("a" * 200), store) == 1
        assert inner.uploads == 1

    def test_the_routing_limit_refuses_before_any_upload(self) -> None:
        inner = InMemoryPayloadStore(_options(50_000))
        store = RoutingPayloadStore([inner], options=ROUTING)
        with pytest.raises(PayloadTooLargeError, match="10,000 bytes"):
            externalize_payloads(_message("a" * 200, "b" * 20_000), store)
        assert inner.uploads == 0  # nothing half-done: the small value was not stored either

    def test_without_options_the_first_store_s_are_used(self) -> None:
        first = InMemoryPayloadStore(_options(2_000))
        assert RoutingPayloadStore([first]).options is first.options


class TestContradictions:
    def test_the_only_store_below_the_routing_limit_is_refused(self) -> None:
        with pytest.raises(
            ValueError,
            match=r"stores\[0\] \(InMemoryPayloadStore, the only route\) receives payloads of 100 to 10,000 "
            r"bytes, but its own max_stored_payload_bytes is 5,000\. Raise .* to at least 10,000",
        ):
            RoutingPayloadStore([InMemoryPayloadStore(_options(5_000))], options=ROUTING)

    def test_a_small_store_below_the_boundary_is_refused(self) -> None:
        small, large = InMemoryPayloadStore(_options(500)), InMemoryPayloadStore(_options(10_000))
        with pytest.raises(
            ValueError, match=r"stores\[0\] .*the small route\) receives payloads of 100 to 999"
        ):
            RoutingPayloadStore([small, large], by_size(small, large, boundary=1000), options=ROUTING)

    def test_a_large_store_below_the_routing_limit_is_refused(self) -> None:
        small, large = InMemoryPayloadStore(_options(10_000)), InMemoryPayloadStore(_options(9_999))
        with pytest.raises(
            ValueError, match=r"stores\[1\] .*the large route\) receives payloads of 1,000 to"
        ):
            RoutingPayloadStore([small, large], by_size(small, large, boundary=1000), options=ROUTING)

    def test_limits_that_cover_each_route_are_accepted(self) -> None:
        """The small store needs only the boundary; nothing larger is ever sent to it."""
        small, large = InMemoryPayloadStore(_options(999)), InMemoryPayloadStore(_options(10_000))
        store = RoutingPayloadStore([small, large], by_size(small, large, boundary=1000), options=ROUTING)
        assert externalize_payloads(_message("s" * 999, "L" * 10_000), store) == 2
        assert (small.uploads, large.uploads) == (1, 1)

    def test_an_inline_route_needs_no_store_limit(self) -> None:
        large = InMemoryPayloadStore(_options(10_000))
        store = RoutingPayloadStore([large], by_size(None, large, boundary=1000), options=ROUTING)
        assert externalize_payloads(_message("s" * 500), store) == 0

    def test_a_boundary_above_the_limit_leaves_the_large_route_unused(self) -> None:
        small, large = InMemoryPayloadStore(_options(10_000)), InMemoryPayloadStore(_options(100))
        store = RoutingPayloadStore([small, large], by_size(small, large, boundary=20_000), options=ROUTING)
        assert externalize_payloads(_message("s" * 10_000), store) == 1
        assert (small.uploads, large.uploads) == (1, 0)

    def test_by_size_must_name_the_routing_store_s_stores(self) -> None:
        stranger, known = InMemoryPayloadStore(ROUTING), InMemoryPayloadStore(ROUTING)
        with pytest.raises(ValueError, match=r"by_size\(\) names a store that is not one of"):
            RoutingPayloadStore([known], by_size(known, stranger, boundary=1000), options=ROUTING)

    def test_a_selector_of_your_own_is_checked_per_upload_by_the_store_it_picks(self) -> None:
        tiny = InMemoryPayloadStore(_options(500))
        store = RoutingPayloadStore(
            [tiny], lambda data, instance: tiny, options=ROUTING
        )  # sizes unknown: built
        with pytest.raises(PayloadTooLargeError, match="5,000 bytes exceeds the limit of 500"):
            store.upload(b"x" * 5_000)
        assert tiny.uploads == 0


class TestEmptyStores:
    def test_an_empty_in_memory_store_is_still_chosen(self) -> None:
        """On main an empty InMemoryPayloadStore (falsy: it has __len__) lost writes to the first store."""
        first, second = InMemoryPayloadStore(ROUTING), InMemoryPayloadStore(ROUTING)
        store = RoutingPayloadStore([first, second], lambda data, instance: second, options=ROUTING)
        store.upload(b"x" * 200)
        assert (first.uploads, second.uploads) == (0, 1)


class TestBySize:
    def test_it_is_a_size_selector(self) -> None:
        small, large = InMemoryPayloadStore(), InMemoryPayloadStore()
        selector = by_size(small, large, boundary=10)
        assert isinstance(selector, SizeSelector)
        assert selector(b"x" * 9, None) is small
        assert selector(b"x" * 10, None) is large

    @pytest.mark.parametrize(("boundary", "error"), [(10.0, TypeError), (True, TypeError), (0, ValueError)])
    def test_the_boundary_is_checked(self, boundary: object, error: type[Exception]) -> None:
        with pytest.raises(error, match="boundary must be"):
            by_size(None, None, boundary=boundary)  # type: ignore[arg-type]

"""Purge never deletes a payload that an instance still existing holds or may still receive.

Each scenario purges an instance while another one that needs its payloads
waits, then lets the waiting one go on on a worker with a new store object,
which has to download everything it replays.
"""

from __future__ import annotations

import json

import pytest

from . import workflows as wf
from .conftest import COMPLETED, CountingInterceptor, Site, new_id

pytestmark = pytest.mark.e2e


def _output(state: object) -> object:
    assert state is not None
    assert state.runtime_status == COMPLETED, state.failure_details  # type: ignore[attr-defined]
    return json.loads(state.serialized_output or "null")  # type: ignore[attr-defined]


class TestPurgeKeepsWhatExistingInstancesNeed:
    @pytest.mark.parametrize("naming", ["default child id", "explicit child id"])
    def test_a_child_purged_under_a_running_parent(self, site: Site, naming: str) -> None:
        """The issue's first case: purge by status takes the finished child; the parent still gets its output.

        The parent's worker is away while the child finishes, so the child's output is on its
        way to the parent, in no history, when the purge runs.
        """
        parent_id = new_id("parent")
        request = {"label": parent_id}
        if naming == "explicit child id":
            request["child_id"] = new_id("explicit")  # no link to the parent in its id or (small) input
        away = site.worker(orchestrators=(wf.parent,))
        client = site.client()
        client.schedule_new_orchestration(wf.parent, input=request, instance_id=parent_id)
        client.wait_for_orchestration_start(parent_id, timeout=30)
        away.stop()
        site.worker(orchestrators=(wf.child,), activities=(wf.grow,))
        child_id = site.child_of(parent_id)
        _output(client.wait_for_orchestration_completion(child_id, timeout=60))
        child_tokens = site.tokens_of(child_id)

        result = client.purge_orchestrations_by(runtime_status=[COMPLETED])

        assert result.deleted_instance_count == 1
        site.worker(orchestrators=(wf.parent,))  # another process: a new store, no cache
        output = _output(client.wait_for_orchestration_completion(parent_id, timeout=60))
        # The child's activity result, which only its history held, went; its output stayed.
        assert (result.deleted_payload_count, result.kept_payload_count) == (1, 1)  # type: ignore[attr-defined]
        assert sum(site.exists(t) for t in child_tokens) == 1
        assert output == wf.digest(
            {
                "result": wf.big(f"child-output-{parent_id}"),
                "extra": len(wf.big(f"activity-child-{parent_id}")),
            }
        )

    def test_an_event_sender_purged_before_the_receiver_read_the_event(self, site: Site) -> None:
        receiver_id, sender_id = new_id("receiver"), new_id("sender")
        away = site.worker(orchestrators=(wf.receiver,))
        client = site.client()
        client.schedule_new_orchestration(wf.receiver, instance_id=receiver_id)
        client.wait_for_orchestration_start(receiver_id, timeout=30)
        away.stop()
        site.worker(orchestrators=(wf.sender,))
        value = wf.big("event")
        client.schedule_new_orchestration(
            wf.sender, input={"to": receiver_id, "value": value}, instance_id=sender_id
        )
        _output(client.wait_for_orchestration_completion(sender_id, timeout=60))

        result = client.purge_orchestration(sender_id)

        assert result.deleted_instance_count == 1
        site.worker(orchestrators=(wf.receiver,))
        assert _output(client.wait_for_orchestration_completion(receiver_id, timeout=60)) == wf.digest(value)

    def test_an_instance_restarted_under_a_new_id_keeps_the_input(self, site: Site) -> None:
        """The restart copies the input token: purging the original must leave it."""
        value = {"orders": wf.big("restart")}
        original = new_id("original")
        first = site.worker(orchestrators=(wf.restartable,), activities=(wf.echo,))
        client = site.client()
        client.schedule_new_orchestration(wf.restartable, input=value, instance_id=original)
        client.wait_for_orchestration_start(original, timeout=30)
        client.raise_orchestration_event(original, "go")
        _output(client.wait_for_orchestration_completion(original, timeout=60))
        restarted = client.restart_orchestration(original, restart_with_new_instance_id=True)
        client.wait_for_orchestration_start(restarted, timeout=30)
        first.stop()

        result = client.purge_orchestration(original)

        assert result.deleted_instance_count == 1
        assert result.deleted_payload_count == 1  # type: ignore[attr-defined]  # its activity's result
        fresh = site.client()
        state = fresh.get_orchestration_state(restarted)
        assert state is not None and json.loads(state.serialized_input or "null") == value
        site.worker(orchestrators=(wf.restartable,), activities=(wf.echo,))
        fresh.raise_orchestration_event(restarted, "go")
        assert _output(fresh.wait_for_orchestration_completion(restarted, timeout=60)) == wf.digest(
            {"echo": value}
        )

    def test_an_entity_signalled_by_a_purged_orchestration(self, site: Site) -> None:
        """No entity worker runs while the orchestration signals and is purged: the signal waits, queued."""
        key, value = new_id("key"), wf.big("cart")
        site.worker(orchestrators=(wf.signal_cart,))
        client = site.client()
        signaller = new_id("signaller")
        client.schedule_new_orchestration(
            wf.signal_cart, input={"key": key, "value": value}, instance_id=signaller
        )
        _output(client.wait_for_orchestration_completion(signaller, timeout=60))

        assert client.purge_orchestration(signaller).deleted_instance_count == 1

        site.worker(orchestrators=(wf.read_cart,), entities=(wf.cart,))
        reader = new_id("reader")
        client.schedule_new_orchestration(wf.read_cart, input=key, instance_id=reader)
        assert _output(client.wait_for_orchestration_completion(reader, timeout=60)) == wf.digest(value)


class TestPurgeDeletesWhatNobodyCanNeed:
    def test_a_parent_and_child_purged_together_give_up_the_childs_output(self, site: Site) -> None:
        site.worker(orchestrators=(wf.parent, wf.child), activities=(wf.grow,))
        client = site.client()
        parent_id = new_id("parent")
        client.schedule_new_orchestration(wf.parent, input={"label": parent_id}, instance_id=parent_id)
        _output(client.wait_for_orchestration_completion(parent_id, timeout=60))
        child_id = site.child_of(parent_id)
        child_output = wf.big(f"child-output-{parent_id}")
        tokens = site.tokens_of(parent_id) | site.tokens_of(child_id)

        result = client.purge_orchestrations_by(runtime_status=[COMPLETED])

        assert result.deleted_instance_count == 2
        # The child's output (its parent is gone) and its activity's result.
        assert result.deleted_payload_count == 2  # type: ignore[attr-defined]
        left = {t for t in tokens if site.exists(t)}
        assert len(left) == len(tokens) - 2
        assert not any(child_output in site.store().download(t).decode() for t in left)

    def test_what_a_purge_costs_in_rpcs(self, site: Site) -> None:
        """A child: its state and history, the purge, a check that it is gone, and its parent."""
        site.worker(orchestrators=(wf.parent, wf.child), activities=(wf.grow,))
        counter = CountingInterceptor()
        client = site.client(interceptors=[counter])
        parent_id = new_id("parent")
        client.schedule_new_orchestration(wf.parent, input={"label": parent_id}, instance_id=parent_id)
        _output(client.wait_for_orchestration_completion(parent_id, timeout=60))
        child_id = site.child_of(parent_id)

        counter.calls.clear()
        client.purge_orchestration(child_id)
        # The parent (found by durabletask's "<parent>:<n>" child id) is read too: 2 more.
        assert counter.calls == {"GetInstance": 3, "StreamInstanceHistory": 2, "PurgeInstances": 1}

        counter.calls.clear()
        client.purge_orchestration(parent_id)
        # Its child, already gone, is looked for once, before the purge.
        assert counter.calls == {"GetInstance": 3, "StreamInstanceHistory": 1, "PurgeInstances": 1}

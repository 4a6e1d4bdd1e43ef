"""gc deletes only what no existing orchestration or entity refers to; eternal orchestrations stay bounded.

Each scenario runs gc (the real command, ``--older-than 0s`` so that age does not
hide a mistake) while an instance that needs payloads waits, then lets it go on
on a worker with a new store object.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from durabletask.entities import EntityInstanceId

from durabletask_payloads._cli import EXIT_REFUSED, main

from ..conftest import Backend
from . import workflows as wf
from .conftest import COMPLETED, Site, new_id

pytestmark = pytest.mark.e2e


def gc(site: Site, *args: str, backend: str | None = None) -> tuple[int, list[dict[str, Any]], str]:
    """Run ``gc --json`` on the site's store; return the exit status, the JSON lines, standard error."""
    out, err = io.StringIO(), io.StringIO()
    argv = ["gc", "--store", site.spec, "--backend", backend or site.address, "--older-than", "0s", "--json"]
    code = main([*argv, *args], out=out, err=err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def by_token(lines: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {line["token"]: line for line in lines if line["type"] == "payload"}


def summary_of(lines: list[dict[str, Any]]) -> dict[str, Any]:
    (last,) = [line for line in lines if line["type"] == "summary"]
    assert lines[-1] is last
    return last


def _output(state: Any) -> Any:
    assert state is not None
    assert state.runtime_status == COMPLETED, state.failure_details
    return json.loads(state.serialized_output or "null")


class TestGcKeepsWhatExistingInstancesReferTo:
    def test_after_a_child_was_purged_by_another_client(self, site: Site) -> None:
        """The child's output is in the waiting parent's history: gc keeps it, whoever wrote it."""
        first = site.worker(orchestrators=(wf.parent, wf.child, wf.beacon), activities=(wf.grow,))
        client = site.client()
        parent_id, beacon_id = new_id("parent"), new_id("beacon")
        client.schedule_new_orchestration(wf.beacon, instance_id=beacon_id)
        client.schedule_new_orchestration(
            wf.parent, input={"label": parent_id, "beacon": beacon_id}, instance_id=parent_id
        )
        _output(client.wait_for_orchestration_completion(beacon_id, timeout=60))  # the parent waits for "go"
        child_id = site.child_of(parent_id)
        only_the_child = site.tokens_of(child_id) - site.tokens_of(parent_id)
        assert len(only_the_child) == 1  # its activity's result
        assert site.plain().purge_orchestration(child_id).deleted_instance_count == 1
        first.stop()

        code, lines, _ = gc(site, "--delete")

        assert code == 0
        found = by_token(lines)
        (orphan,) = only_the_child
        assert found[orphan]["action"] == "deleted"
        assert not site.exists(orphan)
        assert {found[t]["verdict"] for t in site.tokens_of(parent_id)} == {"referenced"}
        site.worker(orchestrators=(wf.parent,))
        client.raise_orchestration_event(parent_id, "go")
        assert _output(client.wait_for_orchestration_completion(parent_id, timeout=60))

    def test_orchestration_ids_that_look_like_entity_ids(self, site: Site) -> None:
        """An orchestration named "@order@x" is one because the backend lists it as one, not an entity."""
        first = site.worker(
            orchestrators=(wf.restartable, wf.read_cart), activities=(wf.echo,), entities=(wf.cart,)
        )
        client = site.client()
        order, value = f"@order@{new_id('x')}", {"order": wf.big("at-order")}
        client.schedule_new_orchestration(wf.restartable, input=value, instance_id=order)
        client.wait_for_orchestration_start(order, timeout=30)
        key, state = new_id("key"), wf.big("entity-state")
        client.signal_entity(EntityInstanceId("cart", key), "set", input=state)
        reader = client.schedule_new_orchestration(wf.read_cart, input=key)
        assert _output(client.wait_for_orchestration_completion(reader, timeout=60)) == wf.digest(state)
        orphan = site.store().upload(b"o" * 5000, instance_id="@order@gone")
        first.stop()

        code, lines, _ = gc(site, "--delete")

        assert code == 0
        summary = summary_of(lines)
        assert (summary["orchestrations"], summary["entities"]) == (2, 1)
        found = by_token(lines)
        assert found[orphan]["action"] == "deleted"
        order_tokens = site.tokens_of(order)
        assert order_tokens and {found[t]["verdict"] for t in order_tokens} == {"referenced"}
        entity_tokens = {t for t, line in found.items() if line["instance_id"] == f"@cart@{key}"}
        assert entity_tokens and all(site.exists(t) for t in entity_tokens)
        site.worker(orchestrators=(wf.restartable, wf.read_cart), activities=(wf.echo,), entities=(wf.cart,))
        client.raise_orchestration_event(order, "go")
        assert _output(client.wait_for_orchestration_completion(order, timeout=60)) == wf.digest(
            {"echo": value}
        )
        again = client.schedule_new_orchestration(wf.read_cart, input=key)
        assert _output(client.wait_for_orchestration_completion(again, timeout=60)) == wf.digest(state)

    def test_against_a_backend_that_holds_no_instance_it_refuses(
        self, site: Site, own_backend: Backend
    ) -> None:
        """Pointed at the wrong backend or task hub, gc would find everything unreferenced: it refuses."""
        site.worker(orchestrators=(wf.restartable,), activities=(wf.echo,))
        client = site.client()
        waiting = client.schedule_new_orchestration(wf.restartable, input={"v": wf.big("empty")})
        client.wait_for_orchestration_start(waiting, timeout=30)
        before = site.stored()
        assert before

        code, lines, err = gc(site, "--delete", "--taskhub", "orders", backend=own_backend.address)

        assert code == EXIT_REFUSED == 3
        assert f"no orchestration and no entity at {own_backend.address} (task hub: orders)" in err
        assert "--force" in err
        assert summary_of(lines)["refused"]
        assert site.stored() == before
        code, lines, err = gc(site, backend=own_backend.address)  # a dry run says so too
        assert code == 0 and f"no instance found at {own_backend.address}" in err
        code, lines, _ = gc(site, "--delete", "--force", backend=own_backend.address)
        assert code == 0
        assert summary_of(lines)["deleted"] == len(before)
        assert site.stored() == set()


class TestEternalOrchestrations:
    def test_twenty_continue_as_new_generations_stay_bounded(self, site: Site) -> None:
        """Each generation leaves its input and its activity's result; gc keeps only the current one's."""
        first = site.worker(orchestrators=(wf.eternal, wf.beacon), activities=(wf.grow,))
        client = site.client()
        eternal_id, beacon_id = new_id("eternal"), new_id("beacon")
        client.schedule_new_orchestration(wf.beacon, instance_id=beacon_id)
        start = {"n": 0, "last": 20, "beacon": beacon_id, "blob": wf.big("generation-0")}
        client.schedule_new_orchestration(wf.eternal, input=start, instance_id=eternal_id)
        _output(client.wait_for_orchestration_completion(beacon_id, timeout=120))  # generation 20 waits
        first.stop()
        assert len(site.stored()) >= 2 * 21
        current = site.tokens_of(eternal_id)
        assert len(current) == 2  # this generation's input and its activity's result

        code, lines, err = gc(site, "--delete")

        assert code == 0, err
        assert site.stored() == current
        assert summary_of(lines)["deleted"] >= 2 * 20
        code, lines, _ = gc(site, "--delete")  # nothing more to take: bounded
        assert (code, summary_of(lines)["deleted"], site.stored()) == (0, 0, current)
        site.worker(orchestrators=(wf.eternal,), activities=(wf.grow,))
        client.raise_orchestration_event(eternal_id, "stop")
        output = _output(client.wait_for_orchestration_completion(eternal_id, timeout=60))
        assert output["n"] == 20
        assert output["result"] == wf.digest(wf.big("activity-eternal-20"))

    def test_the_grace_period_keeps_young_generations(self, site: Site) -> None:
        site.worker(orchestrators=(wf.eternal, wf.beacon), activities=(wf.grow,))
        client = site.client()
        eternal_id, beacon_id = new_id("eternal"), new_id("beacon")
        client.schedule_new_orchestration(wf.beacon, instance_id=beacon_id)
        start = {"n": 0, "last": 3, "beacon": beacon_id, "blob": wf.big("young-0")}
        client.schedule_new_orchestration(wf.eternal, input=start, instance_id=eternal_id)
        _output(client.wait_for_orchestration_completion(beacon_id, timeout=60))
        before = site.stored()
        out, err = io.StringIO(), io.StringIO()
        code = main(["gc", "--store", site.spec, "--backend", site.address, "--delete"], out=out, err=err)
        assert code == 0
        assert site.stored() == before
        assert "kept 2 referred to by existing instances and 6 younger than 1 day" in err.getvalue()

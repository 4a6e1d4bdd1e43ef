"""``--json`` on every command: the output parses, and has exactly the keys docs/cli.md shows."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from durabletask_payloads import FileSystemPayloadStore

from ..helpers import orders
from . import workflows as wf
from .conftest import OPTIONS, Site, run

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def documented(command: str) -> list[dict[str, Any]]:
    """The JSON example docs/cli.md marks with ``<!-- json: COMMAND -->``: one object, or one a line."""
    match = re.search(rf"<!-- json: {command} -->\n```json\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert match, f"docs/cli.md has no JSON example for {command}"
    text = match.group(1)
    try:
        return [json.loads(text)]
    except ValueError:
        return [json.loads(line) for line in text.splitlines()]


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_show(site: Site) -> None:
    instance_id = site.env.run(wf.audited, orders(40, seed=600)).instance_id
    result = run("show", instance_id, *site.store_args, *site.backend_args, "--json")
    assert result.code == 0
    (view,) = lines(result.out)
    (doc,) = documented("show")
    assert view.keys() == doc.keys()
    assert view["payloads"].keys() == doc["payloads"].keys()
    assert view["output"].keys() == doc["output"].keys() == {"value", "size", "token"}  # stored
    assert view["input"].keys() == {"value", "size", "token"}
    assert doc["input"].keys() == {"value", "size"}  # inline
    assert {tuple(event) for event in view["events"]} == {tuple(event) for event in doc["events"]}

    def failure_of(events: list[dict[str, Any]]) -> dict[str, Any]:
        return next(e for e in events if e["type"] == "taskFailed")["details"]["failureDetails"]

    assert failure_of(view["events"]).keys() == failure_of(doc["events"]).keys()


def test_get(site: Site, tmp_path: Path) -> None:
    store = FileSystemPayloadStore(site.root, OPTIONS)
    token = store.upload(b'{"id": 7, "sku": "A-100"}')
    result = run("get", token, *site.store_args, "--json")
    assert result.code == 0
    (shown,) = lines(result.out)
    (doc,) = documented("get")
    assert shown == {"token": token, "size": 25, "value": '{"id": 7, "sku": "A-100"}'}
    assert shown.keys() == doc.keys()
    binary = store.upload(b"\xff\xfe" * 100)
    (shown,) = lines(run("get", binary, *site.store_args, "--json").out)
    assert shown.keys() == {"token", "size", "base64"} and shown["size"] == 200
    target = tmp_path / "saved.json"
    (shown,) = lines(run("get", token, *site.store_args, "--json", "-o", str(target)).out)
    assert shown == {"token": token, "size": 25, "output": str(target)}
    assert target.read_bytes() == b'{"id": 7, "sku": "A-100"}'


def test_inspect(site: Site) -> None:
    store = FileSystemPayloadStore(site.root, OPTIONS)
    token = store.upload(b'"x"' * 1000, instance_id="order-7")
    result = run("inspect", token, *site.store_args, "--json")
    assert result.code == 0
    (shown,) = lines(result.out)
    (doc,) = documented("inspect")
    assert shown.keys() == doc.keys()
    assert (shown["size"], shown["instance_id"]) == (3000, "order-7")


def test_gc(site: Site) -> None:
    site.env.run(wf.audited, orders(40, seed=601))
    result = run("gc", *site.store_args, *site.backend_args, "--older-than", "0s", "--json")
    assert result.code == 0
    shown = lines(result.out)
    doc = documented("gc")
    assert {tuple(line) for line in shown[:-1]} == {tuple(line) for line in doc[:-1]}
    assert shown[-1].keys() == doc[-1].keys()

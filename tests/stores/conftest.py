"""The ``remote`` and ``offline`` fixtures: each remote store kind through one harness (remote_harness.py)."""

from __future__ import annotations

import pytest

from .remote_harness import OFFLINE, REMOTES, Offline, Remote


@pytest.fixture(params=REMOTES)
def remote(request: pytest.FixtureRequest) -> Remote:
    """Each remote store kind on its real server, with a fresh container, bucket or key prefix."""
    _, server, build = request.param
    built: Remote = build(request.getfixturevalue(server))
    return built


@pytest.fixture(params=OFFLINE)
def offline(request: pytest.FixtureRequest) -> Offline:
    """Each remote store kind with no server behind it."""
    built: Offline = request.param()
    return built

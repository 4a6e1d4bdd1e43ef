"""Servers of a test's own, for tests that stop, freeze or restart them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..services import Azurite, ServiceError


@pytest.fixture
def own_azurite(azurite: Azurite, tmp_path: Path) -> Iterator[Azurite]:
    """An Azurite of this test's own, since the test stops it (requires the installed one)."""
    server = Azurite(tmp_path)
    try:
        server.start()
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield server
    server.stop()

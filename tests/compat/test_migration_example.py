"""examples/migration runs in CI: a built-in set-up switched over mid-flight, its blobs still read."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from azure.storage.blob import BlobServiceClient

from ..services import ROOT, Azurite

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "examples" / "migration" / "switch_over.py"


def _run(azurite: Azurite, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    # The worktree's package, whatever is installed in the environment.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


class TestSwitchOverExample:
    @pytest.mark.parametrize("compression", ["on", "off"])
    def test_it_reads_what_the_built_in_wrote(self, azurite: Azurite, compression: str) -> None:
        container = f"migration-{compression}-{uuid.uuid4().hex[:8]}"
        result = _run(azurite, "--compression", compression, "--container", container)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "FAIL" not in result.stdout
        assert "ok   B resumed from the built-in's blobs" in result.stdout
        with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
            blobs = list(service.get_container_client(container).list_blobs(include=["metadata"]))
        builtin = [b for b in blobs if "/" in b.name]  # <instance>/<uuid>: what the built-in wrote
        ours = [b for b in blobs if "/" not in b.name]
        assert builtin and ours
        encodings = {b.content_settings.content_encoding for b in builtin}
        assert encodings == ({"gzip"} if compression == "on" else {None})
        if compression == "on":
            assert "marked" in result.stdout

"""Headless Chromium from Debian's packages, driven by Playwright (never ``playwright install``).

``make test`` installs ``chromium-headless-shell`` with apt when it is missing. A test that needs the
browser fails, with the fix, when it is not there: it never skips.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Debian's packages, in the order tried; DURABLETASK_PAYLOADS_CHROMIUM names another binary.
CANDIDATES = ("chromium-headless-shell", "chromium")
ARGS = [
    "--no-sandbox",  # root in a container: Chromium's sandbox needs user namespaces it may not have
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL = "run `make test` (it installs it), or: apt-get install -y chromium-headless-shell"


def chromium_path() -> str:
    explicit = os.environ.get("DURABLETASK_PAYLOADS_CHROMIUM")
    if explicit:
        if not os.access(explicit, os.X_OK):
            pytest.fail(f"DURABLETASK_PAYLOADS_CHROMIUM={explicit} is not an executable", pytrace=False)
        return explicit
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        f"no headless Chromium on PATH (looked for {', '.join(CANDIDATES)}): {INSTALL}", pytrace=False
    )


def browser_context(profile: Path) -> Iterator[Any]:
    """Yield a Playwright browser context of Debian's Chromium, with its own profile directory."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser tests need Playwright: pip install -e . --group dev", pytrace=False)
    executable = chromium_path()
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=ARGS,
            accept_downloads=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()

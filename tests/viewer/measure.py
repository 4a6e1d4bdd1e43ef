"""Measure how long the page takes to show a large payload: ``python -m tests.viewer.measure [MB]``.

Not a test (speed is not asserted anywhere): it prints the numbers docs/viewer.md quotes. It uses
the same headless Chromium as the browser tests, a filesystem store in a temporary directory, and
the viewer on the loopback.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from durabletask_payloads import FileSystemPayloadStore
from durabletask_payloads._json_pretty import show
from durabletask_payloads._viewer import create_app

from ..helpers import orders
from .browser import browser_context
from .server import serve


def main(megabytes: float = 7.4) -> None:
    rows: list[dict[str, object]] = []
    seed = 0
    while len(json.dumps(rows)) < megabytes * 1_000_000:
        rows += orders(1000, seed=seed)
        seed += 1
    data = json.dumps(rows).encode()
    with tempfile.TemporaryDirectory() as directory:
        store = FileSystemPayloadStore(Path(directory) / "p")
        token = store.upload(data)
        for label, limit in (("preview (64 KiB)", 65536), ("all", None)):
            start = time.perf_counter()
            store.download(token)
            shown = show(data, limit)
            elapsed = time.perf_counter() - start
            print(f"server, download + indent {label}: {elapsed:.3f} s ({len(shown.text.encode()):,} bytes)")
        for url in serve(create_app(store, max_response_bytes=64 * 1024 * 1024)):
            for context in browser_context(Path(directory) / "profile"):
                page = context.new_page()
                page.goto(url + "/")
                start = time.perf_counter()
                page.evaluate("token => { location.hash = '#/payloads/' + token; }", quote(token, safe=""))
                page.wait_for_selector("#payload-text")
                preview = time.perf_counter() - start
                start = time.perf_counter()
                page.locator("button", has_text="Show all").click()
                page.locator("main .note", has_text="Showing all of it.").wait_for()
                page.evaluate("() => document.getElementById('payload-text').getBoundingClientRect().height")
                whole = time.perf_counter() - start
                print(f"payload of {len(data):,} bytes: preview in {preview:.2f} s, all in {whole:.2f} s")


if __name__ == "__main__":
    main(*(float(arg) for arg in sys.argv[1:2]))

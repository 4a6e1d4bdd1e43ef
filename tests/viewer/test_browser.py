"""The viewer's page in real headless Chromium: an instance's timeline, a payload, escaping, CORS.

The page talks to a real viewer, which reads a real in-memory backend (a worker ran the ``ledger``
orchestration) and a filesystem store. A screenshot of the timeline is saved to SCREENSHOT.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote as _quote

import pytest
from aiohttp import web

from durabletask_payloads._json_pretty import pretty
from durabletask_payloads._viewer import create_app

from ..helpers import orders
from .browser import browser_context
from .conftest import Ledger
from .server import serve
from .workflows import BIG, MARKUP

pytestmark = pytest.mark.e2e

SCREENSHOT = Path("/tmp/durabletask-payloads-viewer/timeline.png")


def encode(value: str) -> str:
    """As the page's encodeURIComponent writes it."""
    return _quote(value, safe="-_.!~*'()")


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from browser_context(tmp_path_factory.mktemp("chromium-profile"))


@pytest.fixture(scope="module")
def url(ledger: Ledger) -> Iterator[str]:
    yield from serve(create_app(ledger.store, backend=ledger.address))


class Page:
    """A browser tab that records what the page should never do: fail, or open a dialog."""

    def __init__(self, context: Any, url: str) -> None:
        self.tab = context.new_page()
        self.url = url
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.tab.on("pageerror", lambda error: self.errors.append(str(error)))
        self.tab.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        self.tab.on("request", lambda request: self.requests.append(request.url))

    def open(self, fragment: str) -> None:
        self.tab.goto(f"{self.url}/{fragment}")

    def text(self, selector: str) -> str:
        value = self.tab.text_content(selector)
        assert value is not None
        return value

    def check_clean(self) -> None:
        assert self.errors == [] and self.dialogs == []
        assert self.tab.evaluate("window.__pwned") is None
        assert self.tab.locator("img").count() == 0


@pytest.fixture
def page(context: Any, url: str) -> Iterator[Page]:
    tab = Page(context, url)
    yield tab
    tab.check_clean()
    tab.tab.close()


def _open_instance(page: Page, ledger: Ledger) -> None:
    page.open(f"#/instances/{encode(ledger.instance_id)}")
    page.tab.wait_for_selector("#timeline > li")


class TestTimeline:
    def test_every_event_in_order_with_the_failure_and_its_stack_trace(
        self, page: Page, ledger: Ledger
    ) -> None:
        _open_instance(page, ledger)
        kinds = page.tab.eval_on_selector_all("#timeline > li", "items => items.map(i => i.dataset.kind)")
        assert kinds == [event.WhichOneof("eventType") for event in ledger.events]
        assert page.text("#instance-title") == "ledger · FAILED"
        failed = page.tab.locator('#timeline > li[data-kind="taskFailed"]')
        assert (
            f"builtins.ValueError: ledger out of balance by {BIG} cents"
            in failed.locator(".failure-message").inner_text()
        )
        stack = failed.locator("pre.stack").inner_text()
        assert "in reconcile" in stack and "raise ValueError" in stack
        completed = page.tab.locator('#timeline > li[data-kind="executionCompleted"]')
        assert "caused by: builtins.ValueError" in completed.inner_text()
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.tab.screenshot(path=str(SCREENSHOT), full_page=True)
        assert SCREENSHOT.stat().st_size > 10_000

    def test_each_stored_payload_is_listed_once_with_its_size_in_bytes(
        self, page: Page, ledger: Ledger
    ) -> None:
        _open_instance(page, ledger)
        rows = page.tab.eval_on_selector_all(
            "#payloads tr", "rows => rows.slice(1).map(r => [...r.cells].map(c => c.textContent))"
        )
        assert [row[1] for row in rows] == ledger.tokens()
        for row in rows:
            assert row[2] == f"{len(ledger.store.download(row[1])):,}"
        assert rows[0][5] == "state.input, history[1] executionStarted.input"
        assert page.text("#state .value-head").count(f"{len(ledger.raw_input.encode()):,} bytes (UTF-8)") == 1

    def test_stored_values_are_fetched_on_demand_and_once(self, page: Page, ledger: Ledger) -> None:
        _open_instance(page, ledger)
        previews = lambda: [u for u in page.requests if "/previews/" in u]  # noqa: E731
        assert previews() == []
        page.tab.locator("#state .value-head button", has_text="Show").click()
        page.tab.wait_for_selector("#state .payload-text")
        assert f'"big": {BIG}' in page.text("#state .payload-text")
        started = page.tab.locator('#timeline > li[data-kind="executionStarted"]')
        started.locator("button", has_text="Show").click()
        started.locator(".payload-text").wait_for()
        assert "also at state.input" in started.inner_text()
        assert len(previews()) == 1  # the same token, fetched once

    def test_inline_values_are_shown_as_the_backend_holds_them(self, page: Page, ledger: Ledger) -> None:
        _open_instance(page, ledger)
        label = page.tab.locator('#timeline > li[data-kind="taskScheduled"]').nth(1)
        assert "inline" in label.inner_text()
        assert label.locator("pre.inline-text").inner_text() == json.dumps(
            MARKUP.replace("window.__pwned=1", "window.__pwned=2")
        )


class TestPayload:
    def _open_input(self, page: Page, ledger: Ledger) -> None:
        _open_instance(page, ledger)
        page.tab.locator("#state .value-head a", has_text="Open").click()
        page.tab.wait_for_selector("#payload-text")

    def test_numbers_and_nan_are_shown_exactly_as_stored(self, page: Page, ledger: Ledger) -> None:
        self._open_input(page, ledger)
        token = ledger.state.input.value
        assert page.tab.evaluate("location.hash") == f"#/payloads/{encode(token)}"
        text = page.text("#payload-text")
        assert f'"big": {BIG},' in text and '"price": 10.50,' in text and '"ratio": NaN,' in text
        assert text == pretty(ledger.raw_input)[0]
        meta = page.text("#payload-meta")
        assert f"{len(ledger.raw_input.encode()):,} bytes (UTF-8)" in meta and "NaN" in meta

    def test_what_python_wrote_keeps_its_big_integer_and_nan(self, page: Page, ledger: Ledger) -> None:
        (result,) = [e.taskCompleted.result.value for e in ledger.events if e.HasField("taskCompleted")][:1]
        page.open(f"#/payloads/{encode(result)}")
        text = page.tab.wait_for_selector("#payload-text").text_content()
        assert text is not None and f'"big": {BIG},' in text and '"ratio": NaN,' in text

    def test_markup_in_a_payload_is_text(self, page: Page, ledger: Ledger) -> None:
        self._open_input(page, ledger)
        assert '"note": "<img src=x onerror=\\"window.__pwned=1\\">",' in page.text("#payload-text")
        # check_clean (after the test): no <img> element, no script ran, no dialog.

    def test_the_back_link_returns_to_the_instance(self, page: Page, ledger: Ledger) -> None:
        self._open_input(page, ledger)
        page.tab.click("#back")
        page.tab.wait_for_selector("#timeline > li")
        assert page.tab.evaluate("location.hash") == f"#/instances/{encode(ledger.instance_id)}"

    def test_a_missing_payload_is_a_message_without_a_server_path(self, page: Page, ledger: Ledger) -> None:
        token = ledger.store.upload(b'"soon gone"')
        ledger.store.delete(token)
        page.open(f"#/payloads/{encode(token)}")
        message = page.tab.wait_for_selector("main .error").text_content()
        assert message is not None and "No stored payload" in message and str(ledger.root) not in message


@pytest.fixture(scope="module")
def large(ledger: Ledger) -> tuple[str, bytes]:
    raw = json.dumps(orders(4000, seed=1500)).encode()
    assert len(raw) > 1_000_000
    return ledger.store.upload(raw), raw


@pytest.fixture(scope="module")
def dashboard() -> Iterator[str]:
    """Another origin: a page with no policy of its own, on another port."""
    app = web.Application()

    async def index(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>dashboard</title>", content_type="text/html")

    app.router.add_get("/", index)
    yield from serve(app)


class TestLargePayload:
    def test_a_preview_with_a_loading_line_then_all_of_it(self, page: Page, large: tuple[str, bytes]) -> None:
        token, raw = large
        held: list[Any] = []
        page.tab.route("**/previews/**", lambda route: held.append(route))
        page.open(f"#/payloads/{encode(token)}")
        page.tab.wait_for_selector("#status", state="visible")
        assert page.text("#status") == "Loading payload…"
        assert len(held) == 1
        held[0].continue_()
        page.tab.unroute("**/previews/**")  # the next ones go straight through
        page.tab.wait_for_selector("#payload-text")
        assert page.tab.is_hidden("#status")
        shown = page.text("#payload-text")
        assert len(shown.encode()) == 65536 and pretty(raw.decode())[0].startswith(shown)
        assert "Showing the first 65,536 bytes" in page.text("main .note")
        assert f"{len(raw):,} bytes (UTF-8)" in page.text("#payload-meta")
        page.tab.locator("button", has_text="Show all").click()
        page.tab.locator("main .note", has_text="Showing all of it.").wait_for()
        assert page.text("#payload-text") == pretty(raw.decode())[0]

    def test_download_gives_the_original_bytes_under_the_server_file_name(
        self, page: Page, large: tuple[str, bytes]
    ) -> None:
        token, raw = large
        page.open(f"#/payloads/{encode(token)}")
        page.tab.wait_for_selector("#payload-text")
        with page.tab.expect_download() as info:
            page.tab.locator("button", has_text="Download").click()
        download = info.value
        assert download.suggested_filename == "payload-" + token.replace(":", "_") + ".json"
        assert Path(download.path()).read_bytes() == raw

    def test_copy_puts_the_original_text_on_the_clipboard(
        self, page: Page, context: Any, large: tuple[str, bytes]
    ) -> None:
        token, raw = large
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=page.url)
        page.open(f"#/payloads/{encode(token)}")
        page.tab.wait_for_selector("#payload-text")
        page.tab.locator("button", has_text="Copy").click()
        page.tab.wait_for_selector("button:has-text('Copied')")
        assert page.tab.evaluate("navigator.clipboard.readText()") == raw.decode()


class TestForm:
    def test_search_by_instance_id_gives_the_instance_its_url(self, page: Page, ledger: Ledger) -> None:
        page.open("")
        page.tab.fill("#query", ledger.instance_id)
        page.tab.press("#query", "Enter")
        page.tab.wait_for_selector("#instance-title")
        assert page.tab.evaluate("location.hash") == f"#/instances/{encode(ledger.instance_id)}"

    def test_the_placeholders_fit_their_fields(self, page: Page) -> None:
        page.open("")
        for selector in ("#query", "#bearer"):
            room, needed = page.tab.eval_on_selector(
                selector,
                """input => {
                    const style = getComputedStyle(input);
                    const context = document.createElement("canvas").getContext("2d");
                    context.font = style.font;
                    const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
                    return [input.clientWidth - padding, context.measureText(input.placeholder).width];
                }""",
            )
            assert needed <= room, (selector, needed, room)


class TestCors:
    """A dashboard on another origin calls /decode from the browser, as it would a codec server."""

    FETCH = """([url, token]) => fetch(url + "/decode", {
        method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify([token]),
    }).then(r => r.json()).catch(e => "refused: " + e.message)"""

    def test_an_allowed_origin_gets_the_payload_and_others_get_nothing(
        self, context: Any, ledger: Ledger, dashboard: str
    ) -> None:
        token = ledger.store.upload(b'{"n": 10.50, "big": ' + BIG.encode() + b"}")
        tab = context.new_page()
        try:
            tab.goto(dashboard + "/")
            for allowed in serve(create_app(ledger.store, cors_origins=[dashboard])):
                answer = tab.evaluate(self.FETCH, [allowed, token])
                assert answer == {"values": ['{"n": 10.50, "big": ' + BIG + "}"]}
            for closed in serve(create_app(ledger.store)):
                assert tab.evaluate(self.FETCH, [closed, token]) == "refused: Failed to fetch"
        finally:
            tab.close()

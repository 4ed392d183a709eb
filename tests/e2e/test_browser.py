"""Swagger UI in a real browser: Debian's Chromium, driven by Playwright, offline.

The service runs under gunicorn with the sandbox behind it; the page is opened at /docs and every
request the browser makes that is not to loopback is recorded and blocked, then asserted absent:
the documentation works offline. The whole key lifecycle is run from the UI with each operation's
documented example, the way the README tells a developer to try the service.

Without Chromium or Playwright the test is skipped locally (`make test` installs Chromium when it
runs as root); under CI it fails instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from ..support import CALLER_KEY, ROOT, LiveService

try:
    from playwright.sync_api import Browser, Locator, Page, Playwright, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = Path(os.environ.get("BILLING_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = ROOT / "test-output"
TIMEOUT_MS = 10_000
LOOPBACK = {"127.0.0.1"}
MASKED_CARD = re.compile(r"\d{6}\*{6}\d{4}")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing() -> str | None:
    if sync_playwright is None:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return (
            f"Chromium is missing at {CHROMIUM} (apt-get install chromium, or `make test` as root)"
        )
    return None


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    missing = _missing()
    if missing:
        if _in_ci():
            pytest.fail(f"CI is set, so the browser test must run: {missing}")
        pytest.skip(missing)
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


class Docs:
    """The Swagger UI page, with every request beyond loopback recorded and blocked."""

    def __init__(self, browser: Browser, service: LiveService) -> None:
        self.service = service
        self.outside: list[str] = []  # every request to anything but loopback
        self.page_errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(TIMEOUT_MS)
        self.context.on("request", self._record)
        self.context.route("**/*", self._route)
        self.page: Page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _is_loopback(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("data", "blob") or parts.hostname in LOOPBACK

    def _record(self, request) -> None:
        if not self._is_loopback(request.url):
            self.outside.append(request.url)

    def _route(self, route) -> None:
        if self._is_loopback(route.request.url):
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def open(self) -> None:
        self.page.goto(f"{self.service.url}/docs")
        self.page.locator(".swagger-ui .info .title", has_text="Billing-key service").wait_for()

    def authorize(self, secret: str) -> None:
        self.page.locator(".auth-wrapper button.authorize").click()
        modal = self.page.locator(".modal-ux")
        modal.locator("input[aria-label='auth-bearer-value']").fill(secret)
        modal.locator("button[aria-label='Apply credentials']").click()
        modal.locator("button[aria-label='Remove authorization']").wait_for()  # authorized
        modal.locator("button.btn-done").click()
        modal.wait_for(state="detached")

    def operation(self, method: str, path: str) -> Operation:
        block = self.page.locator(f".opblock.opblock-{method}").filter(
            has=self.page.locator(f".opblock-summary-path[data-path='{path}']")
        )
        return Operation(block)

    def screenshot(self, name: str, op: Operation | None = None) -> Path:
        """Save the page under test-output/; with ``op``, from its title to its live answer."""
        OUTPUT.mkdir(exist_ok=True)
        path = OUTPUT / name
        top = op and op.block.bounding_box()
        bottom = op and op.block.locator(".live-responses-table").bounding_box()
        if top and bottom:
            scroll_y = self.page.evaluate("window.scrollY")
            clip = {
                "x": top["x"],
                "y": top["y"] + scroll_y,
                "width": top["width"],
                "height": bottom["y"] + bottom["height"] - top["y"],
            }
            self.page.screenshot(path=str(path), full_page=True, clip=clip)
        else:
            self.page.screenshot(path=str(path), full_page=True)
        return path


class Operation:
    """One operation of the page: expand it, Try it out, fill it, Execute, read the answer."""

    def __init__(self, block: Locator) -> None:
        self.block = block

    def execute(self, **path_params: str) -> tuple[int, dict]:
        if not self.block.locator(".opblock-body").is_visible():
            self.block.locator(".opblock-summary").first.click()
        try_out = self.block.locator("button.try-out__btn")
        if try_out.inner_text().strip() == "Try it out":
            try_out.click()
        for name, value in path_params.items():
            self.block.locator(f"tr[data-param-name='{name}'] input").fill(value)
        self.block.locator("button.execute").click()
        live = self.block.locator(".live-responses-table tbody")
        status = live.locator(".response-col_status").first
        status.wait_for()
        body = live.locator(".response-col_description pre").first
        return int(status.inner_text().strip()), json.loads(body.text_content() or "")

    def collapse(self) -> None:
        """Close the operation: every open one makes each later render of the page slower."""
        self.block.locator(".opblock-summary").first.click()
        self.block.locator(".opblock-body").wait_for(state="detached")

    def call(self, **path_params: str) -> tuple[int, dict]:
        answer = self.execute(**path_params)
        self.collapse()  # left open on failure, for the screenshot
        return answer


@pytest.fixture
def docs(browser: Browser, live_service: LiveService) -> Iterator[Docs]:
    docs = Docs(browser, live_service)
    yield docs
    docs.context.close()


def test_swagger_ui_runs_the_key_lifecycle_offline(docs, request):
    try:
        _run_lifecycle(docs)
    except BaseException:
        with contextlib.suppress(Exception):  # the page as it was, next to the error
            docs.screenshot(f"{request.node.name}-failure.png")
        raise
    # Nothing beyond loopback was even attempted: no CDN, no validator, no fonts, no telemetry.
    assert docs.outside == []
    assert docs.page_errors == []


def _run_lifecycle(docs: Docs) -> None:
    docs.open()
    docs.authorize(CALLER_KEY)

    issue = docs.operation("post", "/subscriptions/issue-billing")
    status, issued = issue.execute()
    assert status == 200, issued
    docs.screenshot("swagger-ui-issue-billing.png", issue)
    issue.collapse()
    key = issued["billing_key"]
    assert MASKED_CARD.fullmatch(key["card_number"]), key
    customer_uid = key["customer_uid"]

    status, charged = docs.operation("post", "/subscriptions/payments").call()
    assert status == 200, charged
    payment = charged["payment"]
    assert (payment["status"], payment["customer_uid"]) == ("paid", customer_uid)
    assert MASKED_CARD.fullmatch(payment["card_number"]), payment
    imp_uid = payment["imp_uid"]

    status, found = docs.operation("get", "/subscriptions/payments/{imp_uid}").call(imp_uid=imp_uid)
    assert status == 200, found
    assert found["payment"]["imp_uid"] == imp_uid

    status, cancelled = docs.operation("post", "/subscriptions/payments/{imp_uid}/cancel").call(
        imp_uid=imp_uid
    )
    assert status == 200, cancelled
    assert cancelled["payment"]["status"] == "cancelled"

    key_path = "/subscriptions/billing-keys/{customer_uid}"
    status, looked_up = docs.operation("get", key_path).call(customer_uid=customer_uid)
    assert status == 200, looked_up
    assert looked_up["billing_key"]["card_number"] == key["card_number"]

    status, deleted = docs.operation("delete", key_path).call(customer_uid=customer_uid)
    assert status == 200, deleted
    assert deleted["billing_key"]["customer_uid"] == customer_uid

    # The UI really went through the service: the key is gone.
    resp = requests.get(
        f"{docs.service.url}/subscriptions/billing-keys/{customer_uid}",
        headers={"Authorization": f"Bearer {CALLER_KEY}"},
        timeout=5,
    )
    assert resp.status_code == 404, resp.text

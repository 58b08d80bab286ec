"""The API docs work offline under their Content-Security-Policy, and no page can be framed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _violations(page: Any) -> list[str]:
    """Console messages of the page that report a blocked script, style or connection."""
    found: list[str] = []
    page.on(
        "console",
        lambda message: (
            found.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    return found


def test_swagger_ui_renders_the_operations_and_tries_one(page: Any, server: Server) -> None:
    blocked = _violations(page)
    page.goto(f"{server.url}/docs")
    page.locator(".opblock-summary-path", has_text="/api/runs").first.wait_for()
    assert page.locator(".opblock").count() > 10
    # "Try it out" fetches from the same origin: connect-src allows it
    page.locator("#operations-ops-healthz_healthz_get").click()
    page.get_by_role("button", name="Try it out").click()
    page.get_by_role("button", name="Execute").click()
    page.locator(".live-responses-table .response-col_status", has_text="200").wait_for()
    assert not blocked, blocked


def test_redoc_renders_under_its_policy(page: Any, server: Server) -> None:
    blocked = _violations(page)
    page.goto(f"{server.url}/redoc")
    page.get_by_text("Start a release run").first.wait_for()
    # ReDoc's footer asks cdn.redoc.ly for its logo: the policy keeps the page offline
    ours = [text for text in blocked if "https://cdn.redoc.ly/" not in text]
    assert not ours, ours


def test_the_web_page_refuses_to_be_framed(page: Any, server: Server) -> None:
    # another page framing the approve buttons: the browser refuses to render the frame
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text) as refused:
        page.set_content(f'<iframe id="f" src="{server.url}/ui/"></iframe>')
    assert "frame-ancestors 'none'" in refused.value.text
    assert "blocked" in refused.value.text
    framed = page.frames[-1]
    assert framed.locator("#app, main, form").count() == 0

"""What the browser tests share: signing in, the drawn graph's nodes, the phone-width check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.e2e.conftest import LAPTOP, PHONE, Server, overflow, shoot

__all__ = ["node", "on_a_phone_nothing_scrolls_sideways", "sign_in"]


def sign_in(page: Any, server: Server, token: str, artifacts: Path | None = None) -> None:
    """Open / (redirected to the page) and enter the token on the sign-in form."""
    page.goto(f"{server.url}/")
    expect(page.get_by_role("heading", name="Sign in to Enigma")).to_be_visible()
    if artifacts is not None:
        shoot(page, artifacts, "release-01-sign-in")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Release runs")).to_be_visible()


def node(page: Any, node_id: str) -> Any:
    """A node of the drawn workflow graph."""
    return page.locator(f'svg.graph [data-node="{node_id}"]')


def on_a_phone_nothing_scrolls_sideways(page: Any, what: str) -> None:
    """At 390 px the page is no wider than the window; back to 1440 px after."""
    page.set_viewport_size(PHONE)
    assert overflow(page) == 0, f"{what} scrolls sideways on a phone"
    page.set_viewport_size(LAPTOP)

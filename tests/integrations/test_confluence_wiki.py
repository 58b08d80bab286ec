"""ConfluenceWiki against the sandbox Confluence over HTTP, with atlassian-python-api."""

from __future__ import annotations

import pytest
import requests
from pydantic import SecretStr

from enigma.integrations.confluence_wiki import ConfluenceWiki
from enigma.integrations.errors import AuthError, NotFound
from enigma.integrations.http import CallPolicy
from enigma.sandbox.server import SandboxServer
from tests.integrations.conftest import SleepRecorder, effects

TITLE = "Release 2.4.0"
BODY = "<h1>2.4.0</h1><ul><li>ENG-101 Refunds</li></ul>"


def test_page_is_created_under_its_parent_once(
    wiki: ConfluenceWiki, sandbox: SandboxServer
) -> None:
    page = wiki.ensure_page("REL", TITLE, BODY, "Release Notes")
    assert wiki.ensure_page("REL", TITLE, BODY, "Release Notes") == page
    assert page["title"] == TITLE and page["version"] == 1
    assert page["url"].startswith(sandbox.urls.confluence + "/")
    assert [e["kind"] for e in effects(sandbox, "confluence")] == ["page.created"]
    raw = requests.get(
        f"{sandbox.urls.confluence}/rest/api/content/{page['id']}",
        params={"expand": "ancestors"},
        headers={"Authorization": f"Bearer {sandbox.urls.token}"},
        timeout=5,
    ).json()
    assert [a["title"] for a in raw["ancestors"]] == ["Release Notes"]


def test_page_is_updated_only_when_the_body_differs(
    wiki: ConfluenceWiki, sandbox: SandboxServer
) -> None:
    first = wiki.ensure_page("REL", TITLE, BODY, "Release Notes")
    changed = wiki.ensure_page("REL", TITLE, BODY + "<p>and more</p>", "Release Notes")
    unchanged = wiki.ensure_page("REL", TITLE, BODY + "<p>and more</p>", "Release Notes")
    assert changed["id"] == first["id"]
    assert (changed["version"], unchanged["version"]) == (2, 2)
    assert [e["kind"] for e in effects(sandbox, "confluence")] == ["page.created", "page.updated"]


def test_page_at_the_space_root(wiki: ConfluenceWiki) -> None:
    assert wiki.ensure_page("REL", "Root page", "<p>x</p>", None)["version"] == 1


def test_missing_parent_is_not_found(
    wiki: ConfluenceWiki, sandbox: SandboxServer, sleeps: SleepRecorder
) -> None:
    with pytest.raises(NotFound):
        wiki.ensure_page("REL", TITLE, BODY, "No Such Parent")
    assert effects(sandbox, "confluence") == []
    assert sleeps.waits == []


def test_wrong_token_is_an_auth_error(sandbox: SandboxServer, sleeps: SleepRecorder) -> None:
    bad = ConfluenceWiki(
        sandbox.urls.confluence, SecretStr("wrong"), None, CallPolicy(sleep=sleeps)
    )
    with pytest.raises(AuthError):
        bad.ensure_page("REL", TITLE, BODY, "Release Notes")
    assert sleeps.waits == []


def test_basic_auth_is_accepted(sandbox: SandboxServer) -> None:
    basic = ConfluenceWiki(sandbox.urls.confluence, SecretStr(sandbox.urls.token), "release-bot")
    assert basic.ensure_page("REL", TITLE, BODY, "Release Notes")["version"] == 1

"""The sandbox Confluence, driven only by the real atlassian-python-api client over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from atlassian import Confluence
from atlassian.errors import ApiError
from requests import HTTPError

from enigma.sandbox.confluence_peer import PEER
from enigma.sandbox.server import SandboxServer
from tests.conftest import SandboxFactory

SPACE = "REL"
PARENT_ID = "65537"  # "Release Notes" in backend/enigma/sandbox/seed.toml
TITLE = "Release 2.4.0"
BODY = "<h1>Release 2.4.0</h1><p>Refunds from the order page.</p>"


@pytest.fixture
def server(sandbox_factory: SandboxFactory) -> SandboxServer:
    """A sandbox serving only the Confluence peer."""
    return sandbox_factory(specs=[PEER])


@pytest.fixture
def confluence(server: SandboxServer) -> Confluence:
    """The real client, with the sandbox's token."""
    return Confluence(url=server.urls.confluence, token=server.urls.token)


def record_requests(client: Confluence) -> list[str]:
    """Collect `METHOD /path?query` for every request the client sends from now on."""
    sent: list[str] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        sent.append(f"{response.request.method} {response.request.path_url}")

    client._session.hooks["response"].append(hook)
    return sent


def effects(server: SandboxServer) -> list[tuple[str, str]]:
    """The Confluence effect log as (kind, key), read through the admin API."""
    url = f"{server.urls.admin}/confluence/_sandbox/effects"
    answer = requests.get(url, timeout=10)
    answer.raise_for_status()
    return [(e["kind"], e["key"]) for e in answer.json()["effects"]]


def create_release_page(confluence: Confluence, body: str = BODY) -> dict[str, Any]:
    """Create the 2.4.0 page under the seeded parent."""
    page: dict[str, Any] = confluence.create_page(
        SPACE, TITLE, body, parent_id=PARENT_ID, representation="storage"
    )
    return page


def test_seeded_space_and_parent_page(confluence: Confluence, server: SandboxServer) -> None:
    space = confluence.get_space(SPACE)
    found = confluence.get_page_by_title(SPACE, "Release Notes")

    assert (space["key"], space["name"]) == (SPACE, "Releases")
    assert space["_links"]["self"] == f"{server.urls.confluence}/rest/api/space/REL"
    assert [(p["id"], p["title"]) for p in found["results"]] == [(PARENT_ID, "Release Notes")]
    assert found["size"] == 1 and found["start"] == 0
    assert found["_links"]["base"] == server.urls.confluence
    assert found["_links"]["context"] == "/confluence"


def test_create_page_under_parent(confluence: Confluence, server: SandboxServer) -> None:
    created = create_release_page(confluence)

    assert int(created["id"]) > int(PARENT_ID) and isinstance(created["id"], str)
    assert created["version"]["number"] == 1
    assert created["space"]["key"] == SPACE
    assert [a["id"] for a in created["ancestors"]] == [PARENT_ID]
    assert created["_links"]["self"] == (
        f"{server.urls.confluence}/rest/api/content/{created['id']}"
    )
    assert [c["title"] for c in confluence.get_child_pages(PARENT_ID)] == [TITLE]
    assert confluence.get_parent_content_id(created["id"]) == PARENT_ID


def test_get_page_by_title_with_body(confluence: Confluence) -> None:
    created = create_release_page(confluence)

    found = confluence.get_page_by_title(SPACE, TITLE, expand="body.storage,version")

    (page,) = found["results"]
    assert page["id"] == created["id"]
    assert page["body"]["storage"] == {
        "value": BODY,
        "representation": "storage",
        "_expandable": {"content": f"/rest/api/content/{created['id']}"},
    }
    assert page["version"]["number"] == 1
    by_id = confluence.get_page_by_id(created["id"], expand="body.storage")
    assert by_id["body"]["storage"]["value"] == BODY


def test_page_exists(confluence: Confluence) -> None:
    assert confluence.page_exists(SPACE, TITLE) is False
    create_release_page(confluence)
    assert confluence.page_exists(SPACE, TITLE) is True
    assert confluence.page_exists("NOPE", TITLE) is False


def test_update_bumps_version(confluence: Confluence, server: SandboxServer) -> None:
    page_id = create_release_page(confluence)["id"]
    sent = record_requests(confluence)

    updated = confluence.update_page(page_id, TITLE, BODY + "<p>Dark mode.</p>", PARENT_ID)

    assert updated["version"]["number"] == 2
    assert updated["body"]["storage"]["value"] == BODY + "<p>Dark mode.</p>"
    assert confluence.history(page_id)["lastUpdated"]["number"] == 2
    assert sent[:4] == [
        f"GET /confluence/rest/api/content/{page_id}",
        f"GET /confluence/rest/api/content/{page_id}?expand=body.storage",
        f"GET /confluence/rest/api/content/{page_id}/history",
        f"PUT /confluence/rest/api/content/{page_id}?status=current",
    ]
    assert ("page.updated", f"confluence:page.update:{page_id}:v2") in effects(server)


def test_update_with_same_body_does_nothing(confluence: Confluence, server: SandboxServer) -> None:
    page_id = create_release_page(confluence)["id"]
    before = effects(server)
    sent = record_requests(confluence)

    unchanged = confluence.update_page(page_id, TITLE, BODY, PARENT_ID)

    assert unchanged["version"]["number"] == 1
    assert not [line for line in sent if line.startswith("PUT ")]
    assert effects(server) == before


def test_duplicate_title_is_refused(confluence: Confluence, server: SandboxServer) -> None:
    create_release_page(confluence)

    with pytest.raises(HTTPError) as refused:
        confluence.create_page(SPACE, TITLE.upper(), "<p>again</p>", parent_id=PARENT_ID)

    answer = refused.value.response
    assert answer is not None and answer.status_code == 400
    assert answer.json()["statusCode"] == 400
    assert answer.json()["message"].startswith("A page with this title already exists")
    assert [kind for kind, _ in effects(server)] == ["page.created"]


def test_stale_version_is_a_conflict(confluence: Confluence) -> None:
    page_id = create_release_page(confluence)["id"]
    stale = {"type": "page", "title": TITLE, "version": {"number": 1}}

    with pytest.raises(HTTPError) as conflict:
        confluence.update_content(page_id, stale)

    answer = conflict.value.response
    assert answer is not None and answer.status_code == 409
    assert answer.json()["message"] == (
        "Version must be incremented on update. Current version is: 1"
    )


def test_unknown_page_and_space_are_404(confluence: Confluence) -> None:
    with pytest.raises(ApiError) as no_page:
        confluence.get_page_by_id("424242")
    with pytest.raises(ApiError) as no_space:
        confluence.get_space("NOPE")

    for raised in (no_page.value, no_space.value):
        cause = raised.reason
        assert isinstance(cause, HTTPError) and cause.response is not None
        assert cause.response.status_code == 404
        assert cause.response.json()["statusCode"] == 404


def test_wrong_token_is_401(server: SandboxServer) -> None:
    url = server.urls.confluence
    clients = [
        Confluence(url=url, token="not-the-token"),
        Confluence(url=url, username="release-bot", password="not-the-token"),
    ]
    for client in clients:
        with pytest.raises(HTTPError) as refused:
            client.get_space(SPACE)
        answer = refused.value.response
        assert answer is not None and answer.status_code == 401
        assert answer.json()["statusCode"] == 401
    basic = Confluence(url=url, username="release-bot", password=server.urls.token)
    assert basic.page_exists(SPACE, "Release Notes") is True


def test_pages_survive_a_restart(sandbox_factory: SandboxFactory) -> None:
    first = sandbox_factory(specs=[PEER])
    client = Confluence(url=first.urls.confluence, token=first.urls.token)
    page_id = create_release_page(client)["id"]
    client.update_page(page_id, TITLE, "<p>v2</p>")
    first.stop()

    second = sandbox_factory(specs=[PEER])  # same data directory, new server and port
    client = Confluence(url=second.urls.confluence, token=second.urls.token)

    page = client.get_page_by_title(SPACE, TITLE, expand="body.storage,version")["results"][0]
    assert (page["id"], page["version"]["number"]) == (page_id, 2)
    assert page["body"]["storage"]["value"] == "<p>v2</p>"
    later = client.create_page(SPACE, "Release 2.5.0", "<p>next</p>", parent_id=PARENT_ID)
    assert int(later["id"]) == int(page_id) + 1


def test_effect_log_holds_each_write_once(confluence: Confluence, server: SandboxServer) -> None:
    page_id = create_release_page(confluence)["id"]
    confluence.update_page(page_id, TITLE, "<p>v2</p>")
    confluence.update_page(page_id, TITLE, "<p>v2</p>")  # unchanged: no write
    with pytest.raises(HTTPError):
        create_release_page(confluence)  # duplicate: refused, no write

    assert effects(server) == [
        ("page.created", f"confluence:page.create:{SPACE}:{TITLE}"),
        ("page.updated", f"confluence:page.update:{page_id}:v2"),
    ]
    stored = server.sandbox.store.effects("confluence")
    assert [e["method"] for e in stored] == ["POST", "PUT"]


def test_lost_answer_still_writes_once(confluence: Confluence, server: SandboxServer) -> None:
    fault = {"kind": "drop_after", "route": "/rest/api/content$", "methods": ["POST"], "count": 1}
    requests.post(f"{server.urls.admin}/confluence/_sandbox/faults", json=fault, timeout=10)

    with pytest.raises(requests.ConnectionError):
        create_release_page(confluence)

    assert confluence.page_exists(SPACE, TITLE) is True  # so a careful caller does not retry
    assert [kind for kind, _ in effects(server)] == ["page.created"]


def test_listings_follow_paging_links(confluence: Confluence, server: SandboxServer) -> None:
    for number in range(3):
        confluence.create_page(SPACE, f"Release 2.{number}.0", "<p>x</p>", parent_id=PARENT_ID)

    titles = [p["title"] for p in confluence.get_all_pages_from_space(SPACE, limit=2)]
    first = confluence.get_content_by_type("page", spaceKey=SPACE, limit=2)

    assert titles == ["Release Notes", "Release 2.0.0", "Release 2.1.0", "Release 2.2.0"]
    assert first["size"] == 2
    assert first["_links"]["next"] == (
        f"{server.urls.confluence}/rest/api/content?type=page&spaceKey=REL&limit=2&start=2"
    )
    assert confluence.get_page_child_count(PARENT_ID) == 3

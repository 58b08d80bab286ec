"""GET /api/policy on a real server: the effective policy for anyone who may read."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from enigma.api.auth import Authenticate, TokenBook
from enigma.api.policy_routes import router
from enigma.settings import ApiUser
from tests.policy.conftest import load

POLICY = """\
[repositories.lib]
[repositories.service]
after = ["lib"]
merge_method = "squash"

[[notifications]]
type = "webhook"
url = "https://hooks.example.com/enigma"
secret = "w3bh00k-s3cret"
"""

TOKENS = {
    "viewer-token": ApiUser(user="vera", roles=["viewer"]),
    "nobody-token": ApiUser(user="nina", roles=["guest"]),
}


@dataclass
class Served:
    """The URL of a running app and the policy it serves."""

    url: str
    hash: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """A minimal app with the policy router, served by uvicorn on a free loopback port."""
    path = tmp_path / "enigma.toml"
    path.write_text(POLICY)
    loaded = load(path)
    app = FastAPI()
    app.state.policy = loaded
    app.state.tokens = TokenBook(TOKENS)
    app.include_router(router)
    app.add_middleware(Authenticate)  # as the service: the caller is known before the route
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Served(f"http://127.0.0.1:{port}", loaded.hash)
    server.should_exit = True
    thread.join(timeout=10)


def _get(served: Served, token: str | None, **params: str | list[str]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{served.url}/api/policy", headers=headers, params=params, timeout=10)


def test_viewer_reads_the_effective_policy_without_secrets(served: Served) -> None:
    answer = _get(served, "viewer-token")
    assert answer.status_code == 200
    assert "w3bh00k-s3cret" not in answer.text
    body = answer.json()
    assert body["hash"] == served.hash and body["source"].endswith("enigma.toml")
    # no runtime here: the repositories named in the file
    assert list(body["repositories"]) == ["lib", "service"]
    assert body["waves"] == [["lib"], ["service"]]
    assert body["repositories"]["service"]["merge_method"] == "squash"
    assert body["notifications"][0]["secret"] == "**********"


def test_repositories_can_be_chosen(served: Served) -> None:
    answer = _get(served, "viewer-token", repositories=["service", "web-app"])
    assert answer.status_code == 200
    body = answer.json()
    assert list(body["repositories"]) == ["service", "web-app"]
    assert body["waves"] == [["service", "web-app"]]  # lib is not in this release
    assert _get(served, "viewer-token", repositories="../etc").status_code == 422


def test_policy_needs_a_token_with_a_reading_role(served: Served) -> None:
    assert _get(served, None).status_code == 401
    refused = _get(served, "nobody-token")
    assert refused.status_code == 403
    assert "nina (guest) may not read" in refused.json()["detail"]


def test_route_is_documented(served: Served) -> None:
    schema = httpx.get(f"{served.url}/openapi.json", timeout=10).json()
    operation = schema["paths"]["/api/policy"]["get"]
    assert {"200", "401", "403", "422"} <= set(operation["responses"])
    assert [p["name"] for p in operation["parameters"]] == ["repositories"]

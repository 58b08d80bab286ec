"""What the tests of the sandbox Jira share: the seed's facts, the real client, the effect log."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests
from jira import JIRA, JIRAError

from enigma.sandbox.server import SandboxServer

__all__ = [
    "ALL_ISSUES",
    "HOSTILE",
    "IN_240",
    "RELEASE",
    "SPRINT",
    "body",
    "connect",
    "effects",
    "issue_keys",
    "record_requests",
    "self_urls",
]

RELEASE = "2.4.0"
SPRINT = "Sprint 42"
ALL_ISSUES = 23  # 16 in the releases up to 2.5.0, 7 in 3.0.0
IN_240 = [
    "ENG-101",
    "ENG-102",
    "ENG-103",
    "ENG-104",
    "ENG-105",
    "ENG-106",
    "ENG-107",
    "ENG-108",
    "ENG-109",
    "ENG-110",
    "ENG-112",
]
HOSTILE = 'fixVersion = "2.0\\" OR project != \\"ENG"'


def connect(server: SandboxServer, **options: Any) -> JIRA:
    """The real client, with the sandbox's token."""
    return JIRA(server.urls.jira, token_auth=server.urls.token, max_retries=0, **options)


def record_requests(client: JIRA) -> list[str]:
    """Collect ``METHOD /path?query`` (below /jira) for every request sent from now on."""
    sent: list[str] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        sent.append(f"{response.request.method} {response.request.path_url.removeprefix('/jira')}")

    client._session.hooks["response"].append(hook)
    return sent


def effects(server: SandboxServer) -> list[tuple[str, str]]:
    """The Jira effect log as (kind, key), read through the admin API."""
    answer = requests.get(f"{server.urls.admin}/jira/_sandbox/effects", timeout=10)
    answer.raise_for_status()
    return [(e["kind"], e["key"]) for e in answer.json()["effects"]]


def issue_keys(found: Any) -> list[str]:
    """Keys of a search result."""
    return [issue.key for issue in found]


def self_urls(value: Any) -> Iterator[str]:
    """Every ``self`` URL anywhere in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "self" and isinstance(item, str):
                yield item
            yield from self_urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from self_urls(item)


def body(error: JIRAError) -> Any:
    """The JSON body of the error answer the client raised."""
    assert error.response is not None
    return error.response.json()

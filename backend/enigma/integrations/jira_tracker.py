"""`Tracker` on the `jira` client: search tickets, walk workflows, comment, release versions.

Every request goes through `http.call`, one check-then-act step per call, so a retry after a
dropped connection re-reads before it writes. The client is built lazily inside the first call,
with its own retries off (`max_retries=0`) and our timeout, once per I/O thread (a
`requests.Session` is not meant to be shared between threads), and its session carries the
`StopAdapter`, which refuses to send once the run was stopped.

What every thread's client would otherwise fetch for itself (`serverInfo`, the field catalogue
a search translates names with, the application links `add_remote_link` looks up) is fetched
once per tracker and handed to each new client: finalize fans out over many threads, and under
real latency each of those reads is a round trip on the release's critical path.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import quote as url_quote

from jira import JIRA
from jira.exceptions import JIRAError
from pydantic import SecretStr

from enigma.integrations.base import Ticket, VersionRecord
from enigma.integrations.errors import NotFound, PermanentError
from enigma.integrations.http import CallPolicy, call
from enigma.integrations.jira_sprint import sprint_name
from enigma.integrations.jql import build_jql, keys_jql
from enigma.integrations.scope import guard_session

__all__ = ["JiraTracker", "sprint_name"]

T = TypeVar("T")

_SPRINT_SCHEMA = "com.pyxis.greenhopper.jira:gh-sprint"
_PAGE = 50
_MAX_STEPS = 20


class JiraTracker:
    """The release's view of Jira (Server / Data Center or Cloud)."""

    def __init__(
        self,
        url: str,
        token: SecretStr,
        user: str | None = None,
        policy: CallPolicy | None = None,
    ):
        self.url = url.rstrip("/")
        self._token = token
        self._user = user
        self.policy = policy or CallPolicy()
        self._local = threading.local()
        self._shared = threading.RLock()
        self._server: dict[str, Any] | None = None
        self._fields: list[dict[str, Any]] | None = None
        self._sprint_field: str | None = None

    # --- plumbing ------------------------------------------------------------------------

    def _call(self, what: str, op: Callable[[], T]) -> T:
        return call("jira", op, self.policy, what)

    def _jira(self) -> JIRA:
        """This thread's client, built on first use (inside `_call`: it may fetch serverInfo).

        The server's version and deployment type come from the tracker's one `serverInfo`
        read; the first thread to need it reads it, the others wait for that answer.
        """
        client: JIRA | None = getattr(self._local, "client", None)
        if client is None:
            secret = self._token.get_secret_value()
            auth: dict[str, Any] = (
                {"token_auth": secret}
                if self._user is None
                else {"basic_auth": (self._user, secret)}
            )
            client = JIRA(
                server=self.url,
                options={"check_update": False},
                max_retries=0,
                timeout=self.policy.timeout,
                get_server_info=False,
                **auth,
            )
            guard_session(client._session)
            # links here point at URLs, never at issues of a linked application: the list
            # `add_remote_link` fetches to resolve those (a request per client) is not needed
            client._applicationlinks = []
            with self._shared:
                if self._server is None:
                    self._server = client.server_info()
            client._version = tuple(self._server["versionNumbers"])
            client.deploymentType = self._server.get("deploymentType")
            self._local.client = client
        return client

    def _catalogue(self) -> list[dict[str, Any]]:
        """Every field (id, name, schema, clause names), read once per tracker."""
        with self._shared:
            if self._fields is None:
                self._fields = list(self._jira().fields())
            return self._fields

    def _searcher(self) -> JIRA:
        """This thread's client, with the field names a search translates already known."""
        client = self._jira()
        if not client._fields_cache_value:
            client._fields_cache_value = {
                name: str(field["id"])
                for field in self._catalogue()
                for name in field.get("clauseNames") or []
            }
        return client

    def _sprint_field_id(self) -> str | None:
        """The id of the Sprint custom field (e.g. customfield_10020), found by its schema."""
        if self._sprint_field is None:
            fields = self._call("fields", self._catalogue)
            for field in fields:
                schema = field.get("schema") or {}
                if schema.get("custom") == _SPRINT_SCHEMA:
                    self._sprint_field = str(field["id"])
                    break
            else:
                self._sprint_field = ""
        return self._sprint_field or None

    # --- reads ---------------------------------------------------------------------------

    def browse_url(self, key: str) -> str:
        """Human link to a ticket."""
        return f"{self.url}/browse/{url_quote(key, safe='')}"

    def search_tickets(self, project: str, fix_version: str, sprint: str | None) -> list[Ticket]:
        """Every ticket of the project in the fix version (and sprint, when given)."""
        jql = build_jql(project, fix_version, sprint)
        sprint_field = self._sprint_field_id()
        fields = ["summary", "issuetype", "status", "fixVersions", "labels"]
        fields += [sprint_field] if sprint_field else []
        return [self._ticket(raw, sprint_field, sprint) for raw in self._search(jql, fields)]

    def _search(self, jql: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """All matching issues as raw JSON, page by page (each page retried on its own)."""
        client = self._call("serverInfo", self._searcher)
        if client.deploymentType == "Cloud":  # Cloud removed /search: /search/jql, by token
            yield from self._search_cloud(client, jql, fields)
            return
        start = 0
        while True:
            page = self._call(
                "search",
                _json(
                    client.search_issues,
                    jql,
                    startAt=start,
                    maxResults=_PAGE,
                    fields=list(fields),
                    json_result=True,
                ),
            )
            issues = page.get("issues") or []
            yield from issues
            start += len(issues)
            if not issues or start >= int(page.get("total", start)):
                return

    def _search_cloud(self, client: JIRA, jql: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._call(
                "search",
                _json(
                    client.enhanced_search_issues,
                    jql,
                    nextPageToken=token,
                    maxResults=_PAGE,
                    fields=list(fields),
                    json_result=True,
                ),
            )
            yield from page.get("issues") or []
            token = page.get("nextPageToken")
            if not token or page.get("isLast"):
                return

    def _ticket(self, raw: dict[str, Any], sprint_field: str | None, wanted: str | None) -> Ticket:
        fields = raw.get("fields") or {}
        key = str(raw["key"])
        return Ticket(
            key=key,
            summary=str(fields.get("summary") or ""),
            type=str((fields.get("issuetype") or {}).get("name") or ""),
            status=str((fields.get("status") or {}).get("name") or ""),
            fix_versions=[str(v.get("name")) for v in fields.get("fixVersions") or []],
            sprint=sprint_name(fields.get(sprint_field) if sprint_field else None, wanted),
            labels=[str(label) for label in fields.get("labels") or []],
            url=self.browse_url(key),
        )

    def list_versions(self, project: str) -> list[VersionRecord]:
        """The project's fix versions."""
        versions = self._call("versions", lambda: self._jira().project_versions(project))
        return [_version(v.raw) for v in versions]

    def version(self, project: str, name: str) -> VersionRecord | None:
        """One fix version of the project by name, or None if there is none."""
        return next((v for v in self.list_versions(project) if v["name"] == name), None)

    def statuses(self, keys: list[str]) -> dict[str, str]:
        """The current status of each ticket (read back after the release moved them)."""
        found: dict[str, str] = {}
        for start in range(0, len(keys), _PAGE):
            chunk = keys[start : start + _PAGE]
            for raw in self._search(keys_jql(chunk), ["status"]):
                status = ((raw.get("fields") or {}).get("status") or {}).get("name")
                found[str(raw["key"])] = str(status or "")
        return found

    # --- writes --------------------------------------------------------------------------

    def ensure_status(self, key: str, status: str) -> bool:
        """Walk the workflow until the ticket is in `status`; False if it already was.

        Jira shows a user only the transitions out of the ticket's current status, so the
        workflow graph is learnt on the way: each step reads the status with its transitions
        (one request, `expand=transitions`, so the two agree), then takes the first hop of a
        shortest path to `status` over what is known so far, or, when no known path exists
        yet, towards the nearest status whose exits are unknown. A hop Jira accepted into
        `status` ends the walk without reading the ticket again: one hop costs two requests.
        """
        graph: dict[str, dict[str, str]] = {}
        moved: list[bool] = []  # noted before each POST: a retry that finds `status` moved it
        for _ in range(_MAX_STEPS):
            step = self._call("transition", lambda: self._step(key, status, graph, moved))
            if step == "there":
                return bool(moved)
            if step == "arrived":
                return True
        raise PermanentError("jira", f"{key} did not reach {status!r} in {_MAX_STEPS} steps")

    def _step(
        self, key: str, target: str, graph: dict[str, dict[str, str]], moved: list[bool]
    ) -> str:
        """One hop towards `target`: "there" (it already is), "arrived" or "moved" (go on)."""
        client = self._jira()
        issue = client.issue(key, fields="status", expand="transitions").raw
        current = str(issue["fields"]["status"]["name"])
        if _same(current, target):
            return "there"
        exits: dict[str, str] = {}
        for transition in issue.get("transitions") or []:
            to = (transition.get("to") or {}).get("name") or transition.get("name")
            exits.setdefault(str(to).casefold(), str(transition["id"]))
        graph[current.casefold()] = exits
        hop = _first_hop(graph, current.casefold(), target.casefold())
        if hop is None:
            raise PermanentError("jira", f"no transition path from {current!r} to {target!r}")
        moved.append(True)
        try:
            client.transition_issue(key, hop)
        except JIRAError as exc:
            if exc.status_code == 400:
                return "moved"  # the status changed under us (another worker): look again
            raise
        return "arrived" if exits.get(target.casefold()) == hop else "moved"

    def ensure_comment(self, key: str, marker: str, body: str) -> bool:
        """Add `body` unless a comment containing `marker` is already there.

        The marker is appended to the body when the body does not carry it, because the
        marker is what makes the next call find this comment.
        """
        text = body if marker in body else f"{body}\n\n{marker}"
        posted = False  # set before the POST: a retry that finds the comment found ours

        def find_or_post() -> bool:
            nonlocal posted
            client = self._jira()
            if any(marker in comment for comment in self._comment_bodies(client, key)):
                return posted
            posted = True
            client.add_comment(key, text)
            return True

        return self._call("comment", find_or_post)

    @staticmethod
    def _comment_bodies(client: JIRA, key: str) -> Iterator[str]:
        """Every comment's body, paging until a page brings nothing new."""
        seen: set[str] = set()
        start = 0
        while True:
            page = client.comments(key, start_at=start, max_results=100)
            fresh = [c for c in page if str(c.id) not in seen]
            if not fresh:
                return
            for comment in fresh:
                seen.add(str(comment.id))
                yield str(comment.raw.get("body") or "")
            start += len(page)

    def ensure_remote_link(self, key: str, url: str, title: str) -> bool:
        """Link the ticket to `url` unless that link exists."""
        linked = False

        def find_or_link() -> bool:
            nonlocal linked
            client = self._jira()
            for link in client.remote_links(key):
                if (link.raw.get("object") or {}).get("url") == url:
                    return linked
            linked = True
            # a stable globalId: Jira replaces a link posted again with the same id, so two
            # workers linking at once still leave one link
            client.add_remote_link(key, {"url": url, "title": title}, globalId=f"enigma:{url}")
            return True

        return self._call("remote link", find_or_link)

    def ensure_version_released(self, project: str, name: str, release_date: str) -> bool:
        """Mark the fix version released unless it already is (NotFound if it does not exist).

        The PUT goes out on the client's session rather than through `Version.update`, which
        reads the version back afterwards: a request the release does not need.
        """
        released = False

        def find_or_release() -> bool:
            nonlocal released
            client = self._jira()
            for version in client.project_versions(project):
                if version.raw.get("name") != name:
                    continue
                if version.raw.get("released"):
                    return released
                released = True
                body = json.dumps({"released": True, "releaseDate": release_date})
                client._session.put(version.self, data=body)
                return True
            raise NotFound("jira", f"version {name!r} not found in project {project}", 404)

        return self._call("release version", find_or_release)


def _first_hop(graph: dict[str, dict[str, str]], start: str, target: str) -> str | None:
    """The transition id of the first step of a shortest known path to `target`.

    Without a known path, the first step towards the nearest unexplored status; None when
    every reachable status is explored and none is `target`.
    """
    first: dict[str, str | None] = {start: None}
    queue = deque([start])
    frontier: str | None = None
    while queue:
        node = queue.popleft()
        for to, transition_id in graph.get(node, {}).items():
            if to in first:
                continue
            first[to] = first[node] or transition_id
            if to == target:
                return first[to]
            if to not in graph and frontier is None:
                frontier = first[to]
            queue.append(to)
    return frontier


def _json(search: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], dict[str, Any]]:
    """A search call that returns the raw JSON page (`json_result=True` answers a dict)."""

    def run() -> dict[str, Any]:
        page = search(*args, **kwargs)
        if not isinstance(page, dict):
            raise PermanentError("jira", f"unexpected search answer: {type(page).__name__}")
        return page

    return run


def _version(raw: dict[str, Any]) -> VersionRecord:
    return VersionRecord(
        id=str(raw.get("id")),
        name=str(raw.get("name")),
        released=bool(raw.get("released")),
        archived=bool(raw.get("archived")),
    )


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()

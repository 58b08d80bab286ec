"""The sandbox Jira peer: the REST v2 subset the real ``jira`` client (3.10.5) sends.

Mounted under ``/jira``, so ``JIRA(server="http://127.0.0.1:PORT/jira", token_auth=TOKEN)``
works unchanged. What the client sends, and what this peer answers:

- construction: ``GET /rest/api/2/serverInfo`` (``deploymentType`` is the seed's
  ``jira.deployment_type`` or the ``jira_deployment_type`` setting), ``validate=True`` adds
  ``GET /rest/auth/1/session``; ``myself()`` is ``GET /rest/api/2/myself``;
- ``search_issues``: ``GET /rest/api/2/field`` once, then on Server
  ``GET /rest/api/2/search?jql=..&startAt=..&maxResults=..&fields=*all`` (paged by
  ``startAt``/``total``) and on Cloud ``GET /rest/api/2/search/jql`` (paged by an opaque
  ``nextPageToken``; an unbounded query is refused as Cloud does). POST variants too. The JQL
  goes through :mod:`enigma.sandbox.jql`; a query it cannot read is a 400 in Jira's shape, never
  "every issue";
- ``transition_issue``: ``GET`` then ``POST /rest/api/2/issue/KEY/transitions``; only the
  seed workflow's transitions out of the current status are offered or accepted;
- ``add_comment``, ``add_simple_link``/``add_remote_link`` (which first reads
  ``/rest/applinks/latest/listApplicationlinks``), ``create_version`` (``POST version``),
  ``Version.update`` (``PUT version/ID`` through the version's ``self``, then ``GET``).

Side effects: each accepted write that changes the store appends exactly one entry to the
sandbox's effect log, in the same transaction, under a stable key:
``jira:transition:ENG-101:Done``, ``jira:comment:ENG-101:<sha1(body)[:12]>``,
``jira:remotelink:ENG-101:<url>``, ``jira:version.create:ENG:2.4.0``,
``jira:version.release:2.4.0``. A write that changes nothing (a version PUT with the values it
already has, a remote link re-posted unchanged under the same ``globalId``) logs nothing:
there was no side effect to count. The workflow, sprints and user come from the seed and are
configuration; projects, versions and issues (with their comments and links) live in the store
and survive restarts.

Layout: ``jira_store`` (documents, seeding), ``jira_ops`` (what the peer does, without
HTTP), ``jira_routes`` (HTTP), ``jira_views`` / ``jira_fields`` / ``jira_config`` (Jira's
JSON shapes and the seed's configuration). This module assembles the :class:`PeerSpec`.
"""

from __future__ import annotations

from typing import Any

from enigma.sandbox.core import PeerSpec
from enigma.sandbox.jira_ops import JiraPeer
from enigma.sandbox.jira_routes import build_jira_router
from enigma.sandbox.jira_store import PEER_NAME, PREFIX, jira_error, seed_jira

__all__ = ["PEER", "PREFIX", "JiraPeer", "build_jira_router", "jira_error", "seed_jira"]


def _error_body(status: int, message: str) -> dict[str, Any]:
    """Jira's error body, for errors raised outside this module (auth, faults)."""
    return {"errorMessages": [message], "errors": {}}


PEER = PeerSpec(
    name=PEER_NAME,
    prefix=PREFIX,
    build_router=build_jira_router,
    seed=seed_jira,
    error_body=_error_body,
)

"""Release integrity on the real sandbox: approvals that say what will happen, finalize per
operation, and input from the tracker checked rather than trusted."""

from __future__ import annotations

import dataclasses
from typing import Any

from enigma.integrations.base import Ticket
from enigma.integrations.jira_tracker import JiraTracker
from enigma.integrations.jql import quote
from enigma.sandbox.core import FaultRule
from tests.graph.conftest import Release

ASK_CHECKS = {
    "auto_approve": False,
    "on_conflict": "skip",
    "on_check_failure": "ask",
    "on_error": "ask",
    "auto_retries": 0,
}


def test_the_release_approval_lists_what_approving_does_after_a_skipped_repository(
    release: Release,
) -> None:
    # 2.5.0: ENG-131's branch in notifications breaks CI; the release manager skips it
    release.start(
        fix_version="2.5.0", repositories=["payments-api", "notifications"], policy=ASK_CHECKS
    )
    release.answer("plan_approval", "approve")
    release.answer("error", "skip", comment="CI is red, next release")
    (pending,) = release.pending()
    will = pending.value["will"]
    assert pending.value["kind"] == "release_approval"
    assert [m["repo"] for m in will["merge"]] == ["payments-api"]
    assert will["merge"][0]["into"] == "main" and will["merge"][0]["method"] == "merge"
    assert will["tag"] == [{"repo": "payments-api", "tag": "v2.5.0", "release": True}]
    assert will["tickets"] == [{"key": "ENG-130", "from": "To Do", "to": "Done"}]
    left = {(x["repo"], x["branch"]) for x in will["left_out"]}
    assert ("notifications", None) in left
    assert "ENG-131" in will["not_shipped"]
    assert will["version"] == {"name": "2.5.0", "release": True}


def test_a_finalize_operation_the_tracker_refuses_can_be_done_by_hand(release: Release) -> None:
    release.server.sandbox.faults.add(
        [FaultRule(kind="error", status=404, route="/rest/api/2/version/", methods=["PUT"])]
    )
    release.start(
        fix_version="2.3.1",
        release_type="hotfix",
        repositories=["payments-api", "web-app"],
        policy={**ASK_CHECKS, "auto_approve": True},
    )
    (pending,) = release.pending()
    error = pending.value["error"]
    assert pending.value["kind"] == "error" and error["step"] == "finalize"
    assert error["choices"] == ["retry", "skip", "abort"]
    assert error["message"].startswith("release the ENG version 2.3.1 failed: jira")
    assert "404" in error["message"]
    assert pending.value["retry_helps"] is False
    # what was done stays done, and says so already
    done = release.values["finalized"]
    assert done["tickets"] == ["ENG-120", "ENG-121"]
    assert set(done["pull_requests_merged"]) == {"payments-api", "web-app"}

    release.server.sandbox.faults.clear()
    final = release.answer("error", "skip", comment="released in Jira by hand")
    assert final["outcome"] == "partial"
    detail = final["outcome_detail"]
    assert detail["tickets_done"] == ["ENG-120", "ENG-121"]
    assert detail["done_by_hand"] == [
        {
            "operation": "release the ENG version 2.3.1",
            "by": "tester",
            "note": "released in Jira by hand",
        }
    ]
    assert "version.release" not in {e["kind"] for e in release.effects()}
    release.assert_no_duplicate_effects()


@dataclasses.dataclass
class CarelessTracker:
    """The real Jira client against the real peer, but its search forgets the fixVersion clause
    (as a tracker that ignores it would answer): it returns every ticket of the project."""

    real: JiraTracker

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def search_tickets(self, project: str, fix_version: str, sprint: str | None) -> list[Ticket]:
        raws = self.real._search(f"project = {quote(project)} ORDER BY key ASC", _FIELDS)
        return [self.real._ticket(raw, None, None) for raw in raws]


_FIELDS = ["summary", "issuetype", "status", "fixVersions", "labels"]


def test_tickets_that_lack_the_version_are_left_out_and_reported(release: Release) -> None:
    real = release.clients.tracker
    assert isinstance(real, JiraTracker)
    clients = dataclasses.replace(release.clients, tracker=CarelessTracker(real))
    release.context = dataclasses.replace(release.context, clients=clients)
    final = release.start(dry_run=True)
    keys = [t["key"] for t in final["jira_tickets"]]
    assert keys and all(k in final["plan"]["tickets"] for k in keys)
    assert "ENG-120" not in keys and "ENG-131" not in keys  # 2.3.1 and 2.5.0 tickets
    stray = {t["key"]: t["reason"] for t in final["plan"]["excluded_tickets"]}
    assert stray["ENG-120"] == "its fix versions (2.3.1) lack 2.4.0"
    plan_said = [n["text"] for n in final["notes"] if n["step"] == "plan_release"]
    assert "left out: ENG-120" in plan_said[-1]

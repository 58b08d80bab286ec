"""The release workflow end to end on the sandbox: approvals, amendments, conflicts, hotfix."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from enigma.state import normalize_version
from tests.graph.conftest import REPOS, Release


def _kinds(release: Release) -> list[str]:
    return [p.value["kind"] for p in release.pending()]


def _full_release(release: Release) -> dict[str, Any]:
    release.start()
    assert _kinds(release) == ["plan_approval"]
    release.answer("plan_approval", "approve")
    assert _kinds(release) == ["conflict"]
    release.answer("conflict", "skip")
    assert _kinds(release) == ["release_approval"]
    return release.answer("release_approval", "approve")


def test_full_release_does_each_effect_once(release: Release) -> None:
    final = _full_release(release)
    # the conflicting ENG-106 was skipped and ENG-110 has no branch: the release is partial
    assert final["outcome"] == "partial"
    detail = final["outcome_detail"]
    assert detail["not_shipped"] == ["ENG-106", "ENG-110"]
    assert [(x["repo"], x["branch"]) for x in detail["left_out"]] == [
        ("payments-api", "feature/ENG-106-burst-limiter")
    ]
    assert len(detail["tickets_done"]) == 9 and detail["done_by_hand"] == []
    # what the run shows is what the tracker has now
    statuses = {t["key"]: t["status"] for t in final["jira_tickets"]}
    assert statuses["ENG-101"] == "Done" and statuses["ENG-110"] == "To Do"
    effects = release.effects()
    by_kind = Counter(e["kind"] for e in effects)
    # one release branch, one PR, one PR merge and one release per repository
    assert by_kind["ref.create"] == 3
    assert by_kind["pull.create"] == 3
    assert by_kind["pull.merge"] == 3
    assert by_kind["release.create"] == 3
    # every planned merge but the skipped conflicting one
    merged = {e["key"] for e in effects if e["kind"] == "merge"}
    assert len(merged) == 9
    assert not any("ENG-106" in key for key in merged)
    assert by_kind["page.created"] == 1
    assert by_kind["version.release"] == 1
    # tickets with merged branches went to Done and got a comment with the PR link
    done = {
        e["key"].split(":")[2]
        for e in effects
        if e["kind"] == "transition" and e["key"].endswith(":Done")
    }
    assert {
        "ENG-101",
        "ENG-102",
        "ENG-103",
        "ENG-105",
        "ENG-107",
        "ENG-108",
        "ENG-109",
        "ENG-112",
    } <= done
    assert "ENG-106" not in done and "ENG-110" not in done
    comments = [e for e in effects if e["kind"] == "comment"]
    assert len(comments) == 9  # ENG-104 was already Done: commented, not transitioned
    release.assert_no_duplicate_effects()
    # plan recorded the seed's traps
    plan = final["plan"]
    assert plan["tickets_without_branch"] == ["ENG-110"]
    assert plan["branches_without_ticket"] == ["payments-api:feature/cache-warmup"]
    assert [c["branch"] for c in plan["predicted_conflicts"]] == ["feature/ENG-106-burst-limiter"]
    assert {a["kind"] for a in final["approvals"]} == {
        "plan_approval",
        "conflict",
        "release_approval",
    }
    assert all(
        a["plan_hash"] == plan["hash"] for a in final["approvals"] if a["kind"].endswith("approval")
    )


AUTO = {
    "auto_approve": True,
    "on_conflict": "skip",
    "on_check_failure": "abort",
    "on_error": "abort",
    "auto_retries": 2,
}


def test_three_releases_of_one_version_write_each_effect_once(
    release: Release, tmp_path: Path
) -> None:
    release.start(policy=AUTO)
    before = len(release.effects())
    for n in (2, 3):
        again = Release(release.server, tmp_path / f"again-{n}", thread=f"run-again-{n}")
        final = again.start(policy=AUTO)
        again.close()
        assert final["outcome"] == "partial", final.get("outcome_reason")
        # the plan said what already exists
        assert sorted(final["plan"]["already_released"]) == sorted(REPOS)
        existing = {p["repo"]: p["existing"] for p in final["plan"]["repositories"]}
        assert existing["web-app"]["tag"] == "v2.4.0"
        assert existing["web-app"]["pull_request"]["merged"] is True
    assert release.effects()[before:] == [], "a re-run of a released version added something"
    release.assert_no_duplicate_effects()
    comments = Counter(e["detail"]["issue"] for e in release.effects() if e["kind"] == "comment")
    assert comments and max(comments.values()) == 1, comments


def test_reject_plan_is_a_rejection_with_who_and_why(release: Release) -> None:
    release.start()
    final = release.answer("plan_approval", "reject", comment="not this week")
    assert final["outcome"] == "rejected"
    assert final["outcome_reason"] == "plan rejected by tester: not this week"
    detail = final["outcome_detail"]
    assert (detail["rejected"], detail["by"], detail["comment"]) == (
        "plan",
        "tester",
        "not this week",
    )
    assert detail["at"]
    assert not [e for e in release.effects() if e["peer"] == "github"]


def test_amend_drops_branch_and_replans(release: Release) -> None:
    release.start()
    first_hash = release.values["plan"]["hash"]
    release.answer(
        "plan_approval",
        "amend",
        exclude={
            "branches": ["payments-api:feature/ENG-106-burst-limiter"],
            "repositories": ["web-app"],
        },
    )
    plan = release.values["plan"]
    assert plan["hash"] != first_hash
    assert plan["predicted_conflicts"] == []
    assert [r["repo"] for r in plan["repositories"]] == ["payments-api", "notifications"]
    assert _kinds(release) == ["plan_approval"]
    release.answer("plan_approval", "approve")
    final = release.answer("release_approval", "approve")
    assert final["outcome"] == "partial"  # web-app's tickets and ENG-106 stay out
    assert "ENG-103" in final["outcome_detail"]["not_shipped"]
    assert not any("web-app" in e["key"] for e in release.effects() if e["peer"] == "github")


def test_dry_run_reports_plan_and_touches_nothing(release: Release) -> None:
    final = release.start(dry_run=True)
    assert final["outcome"] == "planned"
    assert len(final["plan"]["repositories"]) == 3
    assert release.effects() == []


def test_conflict_abort_fails_the_run(release: Release) -> None:
    release.start()
    release.answer("plan_approval", "approve")
    final = release.answer("conflict", "abort")
    assert final["outcome"] == "failed"
    assert "payments-api" in final["outcome_reason"]
    kinds = {e["kind"] for e in release.effects()}
    assert "page.created" not in kinds and "version.release" not in kinds


def test_hotfix_branches_from_the_latest_tag_of_its_line(release: Release) -> None:
    release.start(policy=AUTO)  # 2.4.0 is released first: v2.4.0 is the highest tag now
    release = Release(release.server, release.data_dir / "hotfix", thread="run-hotfix")
    release.start(
        fix_version="2.3.1",
        release_type="hotfix",
        policy={
            "auto_approve": True,
            "on_conflict": "ask",
            "on_check_failure": "ask",
            "on_error": "ask",
            "auto_retries": 2,
        },
    )
    final = release.values
    assert final["outcome"] == "succeeded"
    plans = {p["repo"]: p for p in final["plan"]["repositories"]}
    assert plans["payments-api"]["release_branch"] == "hotfix/2.3.1"
    assert plans["payments-api"]["base_ref"] == "v2.3.0"
    assert [b["branch"] for b in plans["payments-api"]["branches"]] == [
        "bugfix/ENG-120-double-charge"
    ]
    assert [b["branch"] for b in plans["web-app"]["branches"]] == ["bugfix/ENG-121-safari-checkout"]
    assert final["plan"]["repositories_without_changes"] == ["notifications"]
    assert set(final["pull_requests"]) == {"payments-api", "web-app"}
    tag_sha = release.clients.planner.resolve(
        release.clients.planner.sync(
            release.clients.code_host.repository("payments-api"),
            release.clients.code_host.git_auth_header(),
        ),
        "v2.3.0",
    )
    assert plans["payments-api"]["base_sha"] == tag_sha
    release.assert_no_duplicate_effects()


def test_failing_checks_are_an_error_decision(release: Release) -> None:
    release.start(
        fix_version="2.5.0",
        repositories=["notifications"],
        policy={
            "auto_approve": True,
            "on_conflict": "skip",
            "on_check_failure": "ask",
            "on_error": "ask",
            "auto_retries": 2,
        },
    )
    pending = release.pending()
    assert [p.value["kind"] for p in pending] == ["error"]
    assert pending[0].value["error"]["kind"] == "ChecksFailed"
    final = release.answer("error", "skip")
    assert final["repo_outcomes"] == {"notifications": "skipped"}
    assert final["outcome"] == "partial"
    assert final["outcome_detail"]["left_out"][0]["repo"] == "notifications"
    assert "pull.merge" not in {e["kind"] for e in release.effects()}


@pytest.mark.parametrize(
    "hostile",
    [
        '2.0" OR project != "ENG',
        "2.4.0; rm -rf /",
        "../../etc",
        "2.4",
        "3.1\u0660.0",  # an Arabic-Indic zero: a digit to \\d, not to [0-9]
        "3.1.0\n",  # no silent trimming
        " 3.1.0",
    ],
)
def test_hostile_fix_version_is_refused(hostile: str) -> None:
    with pytest.raises(ValueError, match="not a version"):
        normalize_version(hostile)


def test_hostile_sprint_is_a_literal_and_no_tickets_is_a_refusal(release: Release) -> None:
    final = release.start(sprint_name='Sprint 42" OR fixVersion != "x', dry_run=True)
    assert final["outcome"] == "refused"
    assert "has no tickets in sprint" in final["outcome_reason"]
    assert "plan" not in final and release.effects() == []


def test_a_version_the_tracker_does_not_have_is_refused_before_anything(release: Release) -> None:
    final = release.start(fix_version="9.9.9", policy=AUTO)
    assert final["outcome"] == "refused"
    assert final["outcome_reason"] == "fix version 9.9.9 does not exist in ENG"
    assert release.effects() == []


assert REPOS


def test_concurrent_runs_of_one_version_share_branches_and_prs(
    release: Release, tmp_path: Path
) -> None:
    """Two releases of 2.4.0 interleaved: the second finds the first's merged PRs and releases."""
    auto = {
        "auto_approve": True,
        "on_conflict": "skip",
        "on_check_failure": "abort",
        "on_error": "abort",
        "auto_retries": 2,
    }
    other = Release(release.server, tmp_path / "other", thread="run-other")
    other.start(policy={**auto, "auto_approve": False})  # plan only
    release.start(policy=auto)  # the first run releases everything
    other.answer("plan_approval", "approve")
    final = other.answer("release_approval", "approve")
    assert final["outcome"] == "partial", final.get("outcome_reason")
    assert final["pull_requests"]["web-app"]["merged"] is True
    release.assert_no_duplicate_effects()

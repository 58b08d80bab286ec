"""The release policy at work on the real sandbox: release 3.0.0, where teams differ.

Under the shipped example policy: `service` comes after `lib`; lib and service name tickets
in branch patterns the default prefixes do not know; docs-site has no CI at all (passes once
none showed up); legacy-billing's CI posts commit statuses only; mobile-app requires `build`
and `lint` while its `flaky-e2e` check fails. Asserted on GitHub's effect log and the plan.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from enigma.policy import Policy, example_text, parse_policy
from tests.graph.conftest import Release

REPOS = ["lib", "service", "docs-site", "legacy-billing", "mobile-app"]
AUTO = {"auto_approve": True, "on_conflict": "skip", "on_check_failure": "abort"}


def _under(release: Release, policy: Policy) -> None:
    release.context = dataclasses.replace(release.context, rules=policy)


def _example(none_grace: str = "1s") -> Policy:
    # the shipped example, with the no-CI grace shortened so the test need not wait 20 s
    return parse_policy(
        example_text().replace('none_grace = "20s"', f'none_grace = "{none_grace}"')
    )


def _first(effects: list[dict[str, Any]], kind: str, repo: str) -> int:
    return int(next(e["id"] for e in effects if e["kind"] == kind and f"/{repo}" in e["key"]))


def test_release_3_0_0_under_the_example_policy(release: Release) -> None:
    _under(release, _example())
    final = release.start(fix_version="3.0.0", repositories=REPOS, policy=AUTO)
    assert final["outcome"] == "partial", final.get("outcome_reason")  # ENG-146 has no branch
    assert final["outcome_detail"]["not_shipped"] == ["ENG-146"]
    assert final["outcome_reason"].endswith("; 1 ticket not shipped")
    plan = final["plan"]
    assert plan["waves"] == [["lib", "docs-site", "legacy-billing", "mobile-app"], ["service"]]
    branches = {p["repo"]: [b["branch"] for b in p["branches"]] for p in plan["repositories"]}
    assert branches["service"] == ["feature/ENG-140-adopt-retry-policy", "ENG-141_fast-path"]
    assert branches["lib"] == ["feature/ENG-140-retry-policy", "users/alice/ENG-142"]
    assert set(final["repo_outcomes"].values()) == {"ready"}

    effects = release.effects()
    # lib's pull request was open (and its checks green: its leg ended ready) before service's
    # release branch was made; at finalize lib merged and released before service
    assert _first(effects, "pull.create", "lib") < _first(effects, "ref.create", "service")
    assert _first(effects, "pull.merge", "lib") < _first(effects, "pull.merge", "service")
    assert _first(effects, "release.create", "lib") < _first(effects, "pull.merge", "service")
    release.assert_no_duplicate_effects()

    checks = final["checks"]
    assert checks["docs-site"] == []  # no CI at all, passed by the policy
    assert [c["name"] for c in checks["legacy-billing"]] == ["ci/jenkins"]
    seen = {c["name"]: c["conclusion"] for c in checks["mobile-app"]}
    # build and lint green decided it; flaky-e2e (failing, or not even finished) did not count
    assert seen["build"] == seen["lint"] == "success" and seen["flaky-e2e"] != "success"
    said = [n["text"] for n in final["notes"] if n["step"] == "wait_for_checks"]
    assert any(text.startswith("docs-site: no CI reported") for text in said)
    assert any(text.startswith("legacy-billing: 1 check passed on ") for text in said)


def test_without_the_policy_the_same_release_plans_differently(release: Release) -> None:
    final = release.start(fix_version="3.0.0", repositories=REPOS, dry_run=True)
    plan = final["plan"]
    branches = {p["repo"]: [b["branch"] for b in p["branches"]] for p in plan["repositories"]}
    # the default prefixes do not see ENG-141_fast-path nor users/alice/ENG-142
    assert branches["service"] == ["feature/ENG-140-adopt-retry-policy"]
    assert branches["lib"] == ["feature/ENG-140-retry-policy"]
    assert plan["waves"] == [REPOS]  # no order: everything side by side
    assert sorted(plan["tickets_without_branch"]) == ["ENG-141", "ENG-142", "ENG-146"]


def test_required_checks_decide_and_the_rest_may_fail(release: Release) -> None:
    strict = parse_policy('[repositories.mobile-app.checks]\nrequired = ["flaky-e2e"]\n')
    _under(release, strict)
    final = release.start(
        fix_version="3.0.0",
        repositories=["mobile-app"],
        policy={**AUTO, "on_check_failure": "skip"},
    )
    assert final["repo_outcomes"] == {"mobile-app": "skipped"}
    assert "flaky-e2e=failure" in final["outcome_detail"]["left_out"][0]["reason"]
    assert "build" not in final["outcome_detail"]["left_out"][0]["reason"]

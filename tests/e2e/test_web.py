"""The web page in a real browser: a release from the form to its outcome, and a viewer.

Each step of the release is photographed at 1440 px and at 390 px (tests/artifacts/).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, axe_violations, shoot
from tests.e2e.pages import node, on_a_phone_nothing_scrolls_sideways, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONFLICTING = "feature/ENG-106-burst-limiter"
CONFLICTS_WITH = "feature/ENG-105-partner-rate-limit"


def test_release_from_form_to_partial(page: Any, server: Server, artifacts: Path) -> None:
    sign_in(page, server, "t-alice", artifacts)
    page.get_by_role("link", name="New run").click()

    # The form offers what the configuration and Jira know; the API's 422 shows inline.
    boxes = page.locator('input[name="repositories"]')
    expect(boxes).to_have_count(8)  # the sandbox's repositories; its three demo ones chosen
    for i in range(8):
        if i < 3:
            expect(boxes.nth(i)).to_be_checked()
        else:
            expect(boxes.nth(i)).not_to_be_checked()
    page.get_by_label("Fix version").fill("2.4")
    page.get_by_role("button", name="Start run").click()
    expect(page.locator("#fix_version-error")).to_contain_text("is not a version like 2.4.0")
    page.locator('button[data-version="2.4.0"]').click()
    expect(page.get_by_label("Fix version")).to_have_value("2.4.0")
    shoot(page, artifacts, "release-02-new-run")
    page.get_by_role("button", name="Start run").click()

    # The run page: the plan waits on top, with the predicted conflict and the gaps.
    expect(page).to_have_url(re.compile(r"#/runs/run-[0-9a-f]+$"))
    page.evaluate("window.__sameDocument = true")
    plan = page.locator('[data-decision="plan_approval"]')
    expect(plan).to_be_visible(timeout=60_000)
    expect(plan.locator(f'tr[data-branch="payments-api:{CONFLICTING}"]')).to_have_class(
        re.compile("row-conflict")
    )
    expect(plan.locator("#tickets-without-branch")).to_contain_text("ENG-110")
    expect(plan.locator("#branches-without-ticket")).to_contain_text(
        "payments-api:feature/cache-warmup"
    )
    # The badge and the header say which decision waits; a screen reader hears it, and the
    # keyboard lands on it.
    expect(page.locator("#run-status")).to_have_text("waiting for plan approval")
    expect(page.locator("#run-waiting")).to_have_text("waiting on plan approval")
    expect(page.locator("#announce")).to_have_text("Decision needed: Approve the release plan")
    expect(plan.locator("h2")).to_be_focused()
    expect(node(page, "approve_plan")).to_have_attribute("data-status", "waiting")
    expect(node(page, "release_repository:create_release_branch")).to_have_attribute(
        "data-status", "pending"
    )
    shoot(page, artifacts, "release-03-plan")

    plan.get_by_label("Comment").fill("plan looks right")
    plan.locator('button[data-action="approve"]').click()

    # Steps change while we watch, without a reload; the conflict comes up as a decision.
    expect(node(page, "release_repository:create_release_branch")).to_have_attribute(
        "data-status", "done", timeout=60_000
    )
    conflict = page.locator('[data-decision="conflict"]')
    expect(conflict).to_be_visible(timeout=60_000)
    expect(conflict).to_contain_text(CONFLICTING)
    expect(conflict).to_contain_text("config/limits.toml")
    # It names the branch it collides with, and how to compare them.
    expect(conflict.locator("h2")).to_be_focused()
    expect(conflict.locator("[data-conflicts-with]")).to_contain_text(
        f"It conflicts with {CONFLICTS_WITH}."
    )
    expect(conflict.locator("a[data-compare]")).to_have_attribute(
        "href", re.compile(r"/github/acme/payments-api/compare/release%2F2\.4\.0\.\.\.")
    )
    # The live truth while it waits: the release branch exists, the clean branches merged.
    expect(conflict.locator('[data-release-branch="exists"]')).to_have_text("release/2.4.0")
    expect(conflict.locator("[data-merged]")).to_have_count(3)
    expect(conflict.locator(f'[data-merged="{CONFLICTS_WITH}"]')).to_contain_text("ENG-105")
    card = page.locator('.repo[data-repo="payments-api"]')
    expect(card).to_contain_text("release/2.4.0 from develop @")
    expect(card.locator("[data-leg-now]")).to_have_text("now: decide conflict")
    for branch in ("feature/ENG-101-refunds", "feature/ENG-102-currency-rounding", CONFLICTS_WITH):
        expect(card.locator(f'tr[data-merge="{branch}"]')).to_have_attribute(
            "data-outcome", "merged"
        )
    expect(page.locator('#tickets tr[data-ticket="ENG-101"]')).to_have_attribute(
        "data-fate", "merged"
    )
    expect(conflict.locator('button[data-action="abort"]')).to_have_text("Abort the release")
    expect(conflict.locator(".what-to-do")).to_contain_text("then the run ends failed")
    # While it waits, the header says what for, not the step that ran last.
    expect(page.locator("#run-status")).to_have_text("conflict to decide")
    expect(page.locator("#run-waiting")).to_have_text(
        "waiting on conflict in payments-api (feature/ENG-106-burst-limiter)"
    )
    expect(page.locator("#run-at")).to_have_count(0)
    expect(page.locator("#run-head")).not_to_contain_text("wait for checks")
    expect(page.locator("#announce")).to_have_text(
        "Decision needed: Merge conflict in payments-api"
    )
    merge_row = card.locator(f'tr[data-merge="{CONFLICTING}"]')
    expect(merge_row).to_have_attribute("data-outcome", "conflict")
    expect(merge_row).to_have_class(re.compile("row-conflict"))
    assert axe_violations(page) == [], "conflict with the live legs"
    on_a_phone_nothing_scrolls_sideways(page, "the conflict")
    shoot(page, artifacts, "release-04-conflict")
    conflict.locator('button[data-action="skip"]').click()

    # The release approval lists what approving does: three merges, and ENG-106 left out.
    release = page.locator('[data-decision="release_approval"]')
    expect(release).to_be_visible(timeout=60_000)
    expect(release.locator("[data-will-merge] li")).to_have_count(3)
    expect(release.locator("[data-will-tag]")).to_contain_text("v2.4.0 on payments-api")
    expect(release.locator("[data-will-tickets]")).to_contain_text("ENG-101 In Review → Done")
    expect(release.locator("[data-left-out]")).to_contain_text(CONFLICTING)
    expect(release.locator("[data-not-shipped]")).to_contain_text("ENG-106")
    expect(page.locator("#run-status")).to_have_text("waiting for release approval")
    shoot(page, artifacts, "release-05-release-approval")
    release.locator('button[data-action="approve"]').click()

    # Released in part, and the page says what was left out and what did not ship.
    expect(page.locator('#run-status [data-status="partial"]')).to_have_text(
        "released in part", timeout=60_000
    )
    outcome = page.locator('[data-banner="partial"]')
    expect(outcome.locator("#outcome-text")).to_contain_text("Released 2.4.0 in part")
    expect(outcome.locator("[data-left-out]")).to_contain_text(
        f"{CONFLICTING} — merge conflict in config/limits.toml"
    )
    expect(outcome.locator("[data-not-shipped]")).to_contain_text("ENG-106")
    expect(node(page, "__end__")).to_have_attribute("data-status", "done")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    expect(page.locator('#event-log li[data-event="run.finished"]')).to_have_count(1)
    expect(card.locator(f'tr[data-merge="{CONFLICTING}"]')).to_have_attribute(
        "data-outcome", "skipped"
    )
    # A skipped ticket never shows as merged; the shipped ones read back Done from Jira.
    skipped = page.locator('#tickets tr[data-ticket="ENG-106"]')
    expect(skipped).to_have_attribute("data-fate", "skipped")
    expect(skipped).not_to_contain_text("merged")
    shipped = page.locator('#tickets tr[data-ticket="ENG-101"]')
    expect(shipped).to_have_attribute("data-fate", "released")
    expect(shipped.locator('td[data-label="Jira status"]')).to_have_text("Done")
    expect(page.locator('#notes-body a[href*="/jira/browse/ENG-101"]')).to_have_count(1)
    expect(page.locator("#notes-body script, #notes-body [onclick]")).to_have_count(0)
    expect(page.locator("[data-decision]")).to_have_count(0)
    # Each of the three decisions says how long it waited for a human.
    expect(page.locator("#approvals li [data-waited]")).to_have_count(3)

    links = page.locator(".repo a[data-pr]")
    expect(links).to_have_count(3)
    hrefs = [links.nth(i).get_attribute("href") for i in range(3)]
    assert all(re.search(r"/github/acme/[\w-]+/pull/1$", h or "") for h in hrefs), hrefs
    assert all(links.nth(i).get_attribute("target") == "_blank" for i in range(3))
    assert axe_violations(page) == [], "partial release"
    on_a_phone_nothing_scrolls_sideways(page, "the partial release")
    shoot(page, artifacts, "release-06-partial")

    # The links work: each pull request page answers, and opens from the page in a new tab.
    statuses = {href: httpx.get(href, timeout=10).status_code for href in hrefs if href}
    assert set(statuses.values()) == {200}, statuses
    with page.context.expect_page() as opened:
        links.first.click()
    pr_page = opened.value
    pr_page.wait_for_load_state()
    assert pr_page.url == hrefs[0]
    expect(pr_page.locator("body")).to_contain_text("release/2.4.0")
    pr_page.close()

    page.get_by_role("link", name="← Runs").click()
    row = page.locator("table.runs tbody tr").first
    expect(row.locator('[data-status="partial"]')).to_have_text("released in part")
    expect(row.locator("[data-outcome-text]")).to_contain_text("Released 2.4.0 in part")
    expect(row).to_contain_text("alice")
    expect(row.locator("[data-duration]")).to_have_text(re.compile(r"^(\d+m )?\d+s$"))
    shoot(page, artifacts, "release-07-runs-list")


def test_viewer_sees_no_controls_and_cannot_start(
    page: Any, server: Server, artifacts: Path
) -> None:
    sign_in(page, server, "t-val")
    expect(page.locator("#user-roles")).to_have_text("viewer")
    expect(page.get_by_role("link", name="New run")).to_have_count(0)
    expect(page.locator(".live")).to_have_text("Live")

    # A run someone else starts shows up in the open list by itself (the list's SSE stream).
    with server.client("t-alice") as alice:
        started = alice.post(
            "/api/runs", json={"fix_version": "2.5.0", "repositories": ["web-app"]}
        )
        assert started.status_code == 201, started.text
        run_id = started.json()["id"]
    try:
        row = page.locator(f'tr[data-run="{run_id}"]')
        expect(row).to_contain_text("Needs plan approval", timeout=60_000)
        expect(page.locator("button[data-action]")).to_have_count(0)
        shoot(page, artifacts, "viewer-01-runs-list")

        page.goto(f"{server.url}/ui/#/new")
        expect(page.locator("#not-allowed")).to_contain_text("may not start runs")
        expect(page.get_by_role("button", name="Start run")).to_have_count(0)
        refused = page.evaluate(
            """async () => {
                const r = await fetch('/api/runs', {method: 'POST', headers: {
                    'Authorization': 'Bearer ' + localStorage.getItem('enigma.token'),
                    'Content-Type': 'application/json'},
                    body: JSON.stringify({fix_version: '2.5.0', repositories: ['web-app']})});
                return {status: r.status, body: await r.json()};
            }"""
        )
        assert refused["status"] == 403
        assert "val (viewer) may not operate" in refused["body"]["detail"]

        page.goto(f"{server.url}/ui/#/runs/{run_id}")
        plan = page.locator('[data-decision="plan_approval"]')
        expect(plan).to_be_visible(timeout=60_000)
        expect(plan.locator("[data-no-actions]")).to_contain_text("can follow the run but not act")
        expect(
            page.locator("button[data-action], input[data-exclude], #decisions textarea")
        ).to_have_count(0)
        expect(page.locator("#run-head button")).to_have_count(0)
        expect(node(page, "approve_plan")).to_have_attribute("data-status", "waiting")
        shoot(page, artifacts, "viewer-02-run-page")
    finally:
        with server.client("t-alice") as alice:
            alice.post(f"/api/runs/{run_id}/cancel")
    with server.client("t-alice") as alice:
        assert alice.get(f"/api/runs/{run_id}").json()["status"] == "cancelled"

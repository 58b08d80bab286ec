"""The web page in a real browser: outcomes after a skipped repository, a rejection, an
operation done by hand; sanitized release notes; focus when a new decision arrives.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, axe_violations, shoot
from tests.e2e.pages import on_a_phone_nothing_scrolls_sideways, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONFLICTING = "feature/ENG-106-burst-limiter"
CONFLICTS_WITH = "feature/ENG-105-partner-rate-limit"


def test_release_approval_after_a_skipped_repository_then_rejected(
    page: Any, server: Server, artifacts: Path
) -> None:
    # 2.5.0: ENG-131's branch breaks notifications' CI; the release manager skips it.
    run_id = server.start_run(
        "t-alice", {"fix_version": "2.5.0", "repositories": ["payments-api", "notifications"]}
    )
    sign_in(page, server, "t-alice")
    page.goto(f"{server.url}/ui/#/runs/{run_id}")
    page.locator('[data-decision="plan_approval"] button[data-action="approve"]').click()

    # The red check is a link on notifications' card, next to its pull request.
    error = page.locator('[data-decision="error"]')
    expect(error).to_be_visible(timeout=60_000)
    expect(error).to_contain_text("enigma-ci=failure")
    card = page.locator('.repo[data-repo="notifications"]')
    expect(card.locator('a[data-pr="notifications"]')).to_have_attribute(
        "href", re.compile(r"/github/acme/notifications/pull/\d+$")
    )
    expect(card.locator('[data-red-checks] a[data-red-check="enigma-ci"]')).to_have_attribute(
        "href", re.compile(r"/github/acme/notifications/runs/\d+$")
    )
    expect(card.locator("[data-leg-now]")).to_have_text("now: handle repo error")
    expect(page.locator("#run-waiting")).to_have_text("waiting on failed checks in notifications")
    expect(page.locator("#announce")).to_have_text(
        "Decision needed: Checks failed in notifications"
    )
    shoot(page, artifacts, "skip-01-red-check")
    error.get_by_label("Comment").fill("CI is red, next release")
    error.locator('button[data-action="skip"]').click()

    # Approving merges payments-api alone; notifications is listed as left out, with why.
    release = page.locator('[data-decision="release_approval"]')
    expect(release).to_be_visible(timeout=60_000)
    merges = release.locator("[data-will-merge] li")
    expect(merges).to_have_count(1)
    expect(merges).to_have_text(
        re.compile(r"^payments-api — pull request #\d+ into main \(merge\)$")
    )
    expect(release.locator('[data-will-merge] a[data-pr="notifications"]')).to_have_count(0)
    expect(release.locator("[data-will-tag] li")).to_have_count(1)
    expect(release.locator("[data-will-tickets]")).to_contain_text("ENG-130 To Do → Done")
    expect(release.locator("[data-will-version]")).to_contain_text(
        "Version 2.5.0 is marked released"
    )
    left = release.locator('[data-left-out] li[data-left-repo="notifications"]')
    expect(left).to_contain_text("enigma-ci=failure")
    expect(release.locator("[data-not-shipped]")).to_contain_text("ENG-131")
    expect(release).not_to_contain_text("Approving merges the pull requests below")
    # ENG-131 merged into notifications' release branch, but that does not ship.
    expect(card.locator("[data-repo-left-out]")).to_contain_text("Left out of this release")
    expect(page.locator('#tickets tr[data-ticket="ENG-131"]')).to_have_attribute(
        "data-fate", "not_shipped"
    )
    expect(card.locator('tr[data-merge="feature/ENG-131-digest-emails"]')).to_have_attribute(
        "data-outcome", "not_shipped"
    )
    assert axe_violations(page) == [], "release approval"
    on_a_phone_nothing_scrolls_sideways(page, "the release approval")
    shoot(page, artifacts, "skip-02-release-approval")

    # Rejected: by whom, when and why, on the page and in the list.
    release.get_by_label("Comment").fill("not this week")
    release.locator('button[data-action="reject"]').click()
    outcome = page.locator('[data-banner="rejected"] #outcome-text')
    expect(outcome).to_contain_text("Release rejected by alice at", timeout=60_000)
    expect(outcome).to_contain_text(": not this week")
    expect(page.locator('#run-status [data-status="rejected"]')).to_have_text("rejected")
    expect(page.locator('#tickets tr[data-ticket="ENG-130"]')).to_have_attribute(
        "data-fate", "not_shipped"
    )
    assert axe_violations(page) == [], "rejected run"
    on_a_phone_nothing_scrolls_sideways(page, "the rejected run")
    shoot(page, artifacts, "skip-03-rejected")
    page.get_by_role("link", name="← Runs").click()
    row = page.locator(f'tr[data-run="{run_id}"]')
    expect(row.locator('[data-status="rejected"]')).to_be_visible()
    expect(row.locator("[data-outcome-text]")).to_contain_text("Release rejected by alice at")
    assert axe_violations(page) == [], "runs list with outcomes"
    on_a_phone_nothing_scrolls_sideways(page, "the runs list with outcomes")
    shoot(page, artifacts, "skip-04-runs-list")


def test_a_finalize_operation_done_by_hand(page: Any, server: Server, artifacts: Path) -> None:
    # Jira refuses to release the version: someone does it by hand and says so.
    server.fault(kind="error", route="/rest/api/2/version/", methods=["PUT"], status=404)
    try:
        body = {"fix_version": "2.3.1", "release_type": "hotfix", "repositories": ["web-app"]}
        run_id = server.start_run("t-alice", body)
        sign_in(page, server, "t-alice")
        page.goto(f"{server.url}/ui/#/runs/{run_id}")
        page.locator('[data-decision="plan_approval"] button[data-action="approve"]').click()
        release = page.locator('[data-decision="release_approval"]')
        release.locator('button[data-action="approve"]').click(timeout=60_000)
        error = page.locator('[data-decision="error"]')
        expect(error.locator("[data-operation]")).to_have_text(
            "Operation: release the ENG version 2.3.1", timeout=60_000
        )
        done = error.locator('button[data-action="skip"]')
        expect(done).to_have_text("Done by hand")
        shoot(page, artifacts, "by-hand-01-finalize-error")
        server.fault()
        error.get_by_label("Comment").fill("released in Jira by hand")
        done.click()
    finally:
        server.fault()
    outcome = page.locator('[data-banner="partial"]')
    expect(outcome.locator("[data-done-by-hand] li")).to_have_text(
        "release the ENG version 2.3.1 — by alice: “released in Jira by hand”", timeout=60_000
    )
    expect(page.locator('#run-status [data-status="partial"]')).to_have_text("released in part")
    shoot(page, artifacts, "by-hand-02-partial")


def test_release_notes_html_is_sanitized(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/ui/")
    cleaned = page.evaluate(
        """async () => {
            const { sanitize } = await import('/ui/sanitize.js');
            const box = document.createElement('div');
            box.append(sanitize('<p onclick="window.__pwned=1">Hi '
                + '<a href="javascript:window.__pwned=1">bad</a> '
                + '<a href="https://example.org/x">ok</a><img src=x onerror="window.__pwned=1">'
                + '<script>window.__pwned=1</script><style>body{display:none}</style>'
                + '<b>bold</b></p>'));
            document.body.append(box);
            await new Promise((r) => setTimeout(r, 100));
            return {html: box.innerHTML, pwned: window.__pwned === 1};
        }"""
    )
    assert cleaned["pwned"] is False
    assert cleaned["html"] == (
        '<p>Hi <a>bad</a> <a href="https://example.org/x" target="_blank" '
        'rel="noopener noreferrer nofollow">ok</a><b>bold</b></p>'
    )


def test_a_new_decision_leaves_focus_where_the_reader_types(page: Any, server: Server) -> None:
    page.goto(f"{server.url}/ui/")
    focus = page.evaluate(
        """async () => {
            const { drawAttention } = await import('/ui/views/attention.js');
            const root = document.getElementById('app');
            const panel = () => {
                const section = document.createElement('section');
                const heading = document.createElement('h2');
                heading.tabIndex = -1;
                section.append(heading);
                document.body.append(section);
                return section;
            };
            const box = document.createElement('textarea');
            document.body.append(box);
            box.focus();
            drawAttention(panel(), root);
            const typing = document.activeElement === box;
            box.blur();
            const next = panel();
            drawAttention(next, root);
            return {typing, idle: document.activeElement === next.firstChild};
        }"""
    )
    assert focus == {"typing": True, "idle": True}

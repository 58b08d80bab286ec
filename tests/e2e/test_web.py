"""The web page in a real browser: a release from the form to "succeeded", and a viewer.

Each step of the release is photographed at 1440 px and at 390 px (tests/artifacts/).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Server, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONFLICTING = "feature/ENG-106-burst-limiter"
CONFLICTS_WITH = "feature/ENG-105-partner-rate-limit"


def sign_in(page: Any, server: Server, token: str, artifacts: Path | None = None) -> None:
    """Open / (redirected to the page) and enter the token on the sign-in form."""
    page.goto(f"{server.url}/")
    expect(page.get_by_role("heading", name="Sign in to Enigma")).to_be_visible()
    if artifacts is not None:
        shoot(page, artifacts, "release-01-sign-in")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Release runs")).to_be_visible()


def node(page: Any, node_id: str) -> Any:
    """A node of the drawn workflow graph."""
    return page.locator(f'svg.graph [data-node="{node_id}"]')


def test_release_from_form_to_succeeded(page: Any, server: Server, artifacts: Path) -> None:
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
    # It names the branch it collides with (the plan's prediction, until the payload says).
    expect(conflict.locator("h2")).to_be_focused()
    expect(conflict.locator("[data-conflicts-with]")).to_contain_text(CONFLICTS_WITH)
    expect(conflict.locator('button[data-action="reject"]')).to_have_text("Abort the release")
    expect(conflict.locator(".what-to-do")).to_contain_text("then the run ends failed")
    # While it waits, the header says what for, not the step that ran last.
    expect(page.locator("#run-status")).to_have_text("conflict to decide")
    expect(page.locator("#run-waiting")).to_contain_text("conflict in payments-api")
    expect(page.locator("#run-at")).to_have_count(0)
    expect(page.locator("#announce")).to_have_text(
        "Decision needed: Merge conflict in payments-api"
    )
    merge_row = page.locator(f'.repo[data-repo="payments-api"] tr[data-merge="{CONFLICTING}"]')
    expect(merge_row).to_have_attribute("data-outcome", "conflict")
    expect(merge_row).to_have_class(re.compile("row-conflict"))
    shoot(page, artifacts, "release-04-conflict")
    conflict.locator('button[data-action="skip"]').click()

    release = page.locator('[data-decision="release_approval"]')
    expect(release).to_be_visible(timeout=60_000)
    expect(release).to_contain_text("Left out of this release")
    expect(page.locator("#run-status")).to_have_text("waiting for release approval")
    shoot(page, artifacts, "release-05-release-approval")
    release.locator('button[data-action="approve"]').click()

    expect(page.locator('#run-status [data-status="succeeded"]')).to_be_visible(timeout=60_000)
    expect(node(page, "__end__")).to_have_attribute("data-status", "done")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    expect(page.locator('#event-log li[data-event="run.finished"]')).to_have_count(1)
    expect(page.locator('.repo[data-repo="payments-api"]')).to_contain_text("skipped")
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
    shoot(page, artifacts, "release-06-succeeded")

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
    expect(row).to_contain_text("succeeded")
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

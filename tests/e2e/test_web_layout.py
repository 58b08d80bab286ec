"""The page on a phone, to axe-core, in the runs list's filters, and /docs with no internet."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, Server, axe_violations, overflow, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def sign_in(page: Any, server: Server) -> None:
    """Sign in as alice on the page's own form."""
    page.goto(f"{server.url}/")
    page.get_by_label("API token").fill("t-alice")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Release runs")).to_be_visible()


@pytest.fixture(scope="module")
def waiting_run(server: Server) -> Iterator[str]:
    """A run of 2.4.0 over every repository, waiting for its plan; cancelled at the end."""
    with server.client("t-alice") as alice:
        repositories = alice.get("/api/config").json()["repositories"]
    run_id = server.start_run("t-alice", {"fix_version": "2.4.0", "repositories": repositories})
    try:
        yield run_id
    finally:
        with server.client("t-alice") as alice:
            alice.post(f"/api/runs/{run_id}/cancel")


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A 390 by 844 page, as on a phone."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_phone_pages_do_not_scroll_sideways(
    phone: Any, server: Server, waiting_run: str, artifacts: Path
) -> None:
    phone.goto(f"{server.url}/")
    expect(phone.get_by_role("heading", name="Sign in to Enigma")).to_be_visible()
    assert overflow(phone) == 0, "sign-in scrolls sideways"
    sign_in(phone, server)
    expect(phone.locator(f'tr[data-run="{waiting_run}"]')).to_be_visible()
    expect(phone.locator("#logout")).to_be_in_viewport()
    assert overflow(phone) == 0, "the runs list scrolls sideways"

    phone.goto(f"{server.url}/ui/#/new")
    expect(phone.get_by_role("button", name="Start run")).to_be_visible()
    assert overflow(phone) == 0, "the new-run form scrolls sideways"

    phone.goto(f"{server.url}/ui/#/runs/{waiting_run}")
    plan = phone.locator('[data-decision="plan_approval"]')
    expect(plan).to_be_visible(timeout=60_000)
    expect(phone.locator("#logout")).to_be_in_viewport()
    assert overflow(phone) == 0, "the run page with the plan open scrolls sideways"

    # The plan's rows are stacked cards: a branch name keeps a readable width.
    row = plan.locator("tr[data-branch]").first
    assert row.evaluate("r => getComputedStyle(r).display") == "block"
    branch_cell = row.locator('td[data-label="Branch"]')
    assert branch_cell.evaluate("c => c.getBoundingClientRect().width") > 150

    # The graph keeps its labels readable and scrolls in its own box instead.
    label_px = phone.evaluate(
        """() => {
            const svg = document.querySelector('svg.graph');
            const label = svg.querySelector('.g-label');
            const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
            return scale * parseFloat(getComputedStyle(label).fontSize);
        }"""
    )
    assert label_px >= 11, f"graph labels are {label_px:.1f} px on a phone"
    box = phone.locator(".graph-scroll")
    assert box.evaluate("b => b.scrollWidth > b.clientWidth")
    # ... scrolled sideways so that the step waiting for the decision is in view.
    shown = phone.evaluate(
        """() => {
            const box = document.querySelector('.graph-scroll').getBoundingClientRect();
            const node = document.querySelector('[data-node="approve_plan"]')
                .getBoundingClientRect();
            return node.left >= box.left && node.right <= box.right;
        }"""
    )
    assert shown, "the waiting step is scrolled out of the graph's box"
    assert axe_violations(phone) == [], "run page on a phone"
    shoot(phone, artifacts, "phone-run-page-plan")


def test_axe_finds_nothing_serious(page: Any, server: Server, waiting_run: str) -> None:
    page.goto(f"{server.url}/")
    expect(page.get_by_role("heading", name="Sign in to Enigma")).to_be_visible()
    assert axe_violations(page) == [], "sign-in page"
    sign_in(page, server)
    expect(page.locator(f'tr[data-run="{waiting_run}"]')).to_be_visible()
    assert axe_violations(page) == [], "runs list"
    page.goto(f"{server.url}/ui/#/runs/{waiting_run}")
    expect(page.locator('[data-decision="plan_approval"]')).to_be_visible(timeout=60_000)
    expect(page.locator("#event-log li[data-event]").first).to_be_visible()
    assert axe_violations(page) == [], "run page with the plan open"


def test_panels_use_what_the_payload_says(page: Any, server: Server, waiting_run: str) -> None:
    # The run as a newer API would send it: a conflict naming its branch and a compare link,
    # and a transient error. The page is fed that run; everything else is the real server.
    compare = "https://github.example/acme/payments-api/compare/release/2.4.0...feature/x"

    def doctored(route: Any) -> None:
        response = route.fetch()
        run = response.json()
        run["status"] = "waiting_for_approval"
        run["pending"] = [
            {
                "interrupt_id": "c1",
                "kind": "conflict",
                "choices": ["skip", "abort"],
                "payload": {
                    "repo": "payments-api",
                    "branch": "feature/ENG-106-burst-limiter",
                    "ticket": "ENG-106",
                    "files": ["config/limits.toml"],
                    "conflicts_with": ["feature/ENG-999-other"],
                    "compare_url": compare,
                },
            },
            {
                "interrupt_id": "e1",
                "kind": "error",
                "choices": ["retry", "skip", "abort"],
                "payload": {
                    "error": {
                        "step": "open_pull_request",
                        "repo": "web-app",
                        "kind": "TransientError",
                        "message": "github: service unavailable (HTTP 503)",
                        "transient": True,
                        "attempt": 3,
                        "choices": ["retry", "skip", "abort"],
                    }
                },
            },
        ]
        route.fulfill(response=response, json=run)

    page.route(f"**/api/runs/{waiting_run}", doctored)
    sign_in(page, server)
    page.goto(f"{server.url}/ui/#/runs/{waiting_run}")
    expect(page.locator("#run-status")).to_have_text("error to decide, conflict to decide")
    expect(page.locator("#announce")).to_have_text(
        "Decision needed: Step failed: open pull request in web-app; Merge conflict in payments-api"
    )
    conflict = page.locator('[data-decision="conflict"]')
    expect(conflict.locator("[data-conflicts-with]")).to_contain_text(
        "It conflicts with feature/ENG-999-other."
    )
    expect(conflict.locator("a[data-compare]")).to_have_attribute("href", compare)
    error = page.locator('[data-decision="error"]')
    expect(error.locator('[data-transient="true"]')).to_contain_text("retrying is likely to work")
    expect(error.locator("button[data-action]").first).to_have_attribute("data-action", "retry")
    expect(error.locator("button[data-action]").first).to_have_class("btn primary")


def test_plan_extras_a_blocked_run_and_a_degraded_service(
    page: Any, server: Server, waiting_run: str, artifacts: Path
) -> None:
    # The run as a run manager sends it while GitHub is down, with a plan made under a policy
    # with waves, and a repository released already; the stream says the store is down.
    cause = "github unreachable (connection refused by 127.0.0.1:9)"
    recovered = {"now": False}

    def doctored_run(route: Any) -> None:
        response = route.fetch()
        run = response.json()
        run["blocked"] = cause
        plan = run["pending"][0]["payload"]["plan"]
        plan["waves"] = [["lib"], ["service", "payments-api"], ["web-app"]]
        plan["already_released"] = ["lib"]
        for repo in plan["repositories"]:
            if repo["repo"] == "lib":
                repo["existing"] = {
                    "tag": "v2.4.0",
                    "release": "https://github.example/acme/lib/releases/tag/v2.4.0",
                    "pull_request": {
                        "number": 7,
                        "url": "https://github.example/acme/lib/pull/7",
                        "merged": True,
                    },
                }
        plan["excluded_tickets"] = [{"key": "ENG-140", "reason": "its fix version is 2.5.0"}]
        plan["flags"] = ["ENG-141 has no summary"]
        route.fulfill(response=response, json=run)

    def doctored_list(route: Any) -> None:
        response = route.fetch()
        data = response.json()
        for run in data["runs"]:
            if run["id"] == waiting_run:
                run["blocked"] = cause
        route.fulfill(response=response, json=data)

    def stream(route: Any) -> None:
        word = "service.recovered" if recovered["now"] else "service.degraded"
        data = "{}" if recovered["now"] else '{"cause": "database unavailable"}'
        route.fulfill(
            status=200,
            headers={"Content-Type": "text/event-stream"},
            body=f"event: {word}\ndata: {data}\n\n",
        )

    page.route(f"**/api/runs/{waiting_run}", doctored_run)
    page.route("**/api/runs?*", doctored_list)
    sign_in(page, server)
    row = page.locator(f'tr[data-run="{waiting_run}"]')
    expect(row.locator("[data-blocked]")).to_contain_text("waiting: github unreachable")
    expect(row.locator("[data-blocked]")).to_have_attribute("title", cause)

    page.route(f"**/api/runs/{waiting_run}/events", stream)
    page.goto(f"{server.url}/ui/#/runs/{waiting_run}")
    expect(page.locator('[data-banner="blocked"]')).to_contain_text(f"Waiting: {cause}")
    expect(page.locator('[data-banner="degraded"]')).to_contain_text(
        "Enigma is degraded: database unavailable"
    )
    plan = page.locator('[data-decision="plan_approval"]')
    waves = plan.locator("[data-waves] li")
    expect(waves).to_have_text(["lib", "service, payments-api", "web-app"])
    released = plan.locator("[data-already-released]")
    expect(released).to_contain_text("lib Already there: tag v2.4.0, release page")
    expect(released.locator('a[href$="/pull/7"]')).to_have_text("pull request #7")
    expect(plan.locator("[data-excluded-tickets]")).to_contain_text(
        "ENG-140 — its fix version is 2.5.0"
    )
    expect(plan.locator("[data-flags]")).to_contain_text("ENG-141 has no summary")
    policy_hash = plan.locator("[data-policy-hash]")
    expect(policy_hash).to_contain_text("policy ")
    assert axe_violations(page) == [], "plan extras, blocked and degraded"
    page.set_viewport_size(PHONE)
    assert overflow(page) == 0, "plan extras, blocked and degraded scroll sideways on a phone"
    page.set_viewport_size({"width": 1440, "height": 900})
    shoot(page, artifacts, "blocked-degraded-plan-extras")

    recovered["now"] = True
    expect(page.locator('[data-banner="degraded"]')).to_have_count(0, timeout=30_000)


def test_outcomes_in_words(page: Any, server: Server) -> None:
    # The endings as the API describes them (shapes taken from real runs).
    page.goto(f"{server.url}/ui/")
    said = page.evaluate(
        r"""async () => {
            const { outcomeSentence } = await import('/ui/views/outcome.js');
            const run = (outcome, detail) => ({ outcome, detail, fix_version: '2.4.0' });
            return [
                run('refused', { reason: 'fix version 9.9.9 does not exist in ENG' }),
                run('cancelled', { by: 'alice', at: 1796007675.11,
                    in_flight: ['merge_feature_branches (payments-api)'] }),
                run('failed', { where: 'finalize', what: 'release the ENG version 2.4.0',
                    reason: 'jira answered 404' }),
                run('rejected', { rejected: 'plan', by: 'bob', at: '2026-11-30T03:01:15+00:00',
                    comment: 'not this week' }),
                run('partial', { reason: 'Released 2.4.0 in part: 3 repositories' }),
            ].map(outcomeSentence).map((s) => s.replace(/ at [^:]+:\d\d:\d\d( [AP]M)?/, ' at T'));
        }"""
    )
    assert said == [
        "Refused: fix version 9.9.9 does not exist in ENG",
        "Cancelled by alice at T, while merge_feature_branches (payments-api) was in flight",
        "Failed in finalize: release the ENG version 2.4.0",
        "Plan rejected by bob at T: not this week",
        "Released 2.4.0 in part: 3 repositories",
    ]
    # Operations done by hand are named with who did them and their note.
    by_hand = page.evaluate(
        """async () => {
            const { outcomeCard } = await import('/ui/views/outcome.js');
            const card = outcomeCard({ outcome: 'partial', fix_version: '2.3.1', detail: {
                reason: 'Released 2.3.1 in part', tickets_done: ['ENG-120'],
                done_by_hand: [{ operation: 'release the ENG version 2.3.1', by: 'tester',
                    note: 'released in Jira by hand' }] } });
            return card.querySelector('[data-done-by-hand] li').textContent;
        }"""
    )
    assert by_hand == "release the ENG version 2.3.1 — by tester: “released in Jira by hand”"


def test_starting_a_live_version_links_to_its_run(
    page: Any, server: Server, waiting_run: str
) -> None:
    sign_in(page, server)
    page.goto(f"{server.url}/ui/#/new")
    page.get_by_label("Fix version").fill("2.4.0")
    page.get_by_role("button", name="Start run").click()
    refusal = page.locator(".new-run .form-error")
    expect(refusal).to_contain_text(f"run {waiting_run} is already releasing 2.4.0")
    refusal.locator(f'a[data-live-run="{waiting_run}"]').click()
    expect(page).to_have_url(re.compile(f"#/runs/{waiting_run}$"))
    expect(page.locator('[data-decision="plan_approval"]')).to_be_visible(timeout=60_000)


def test_runs_list_filters_by_version_and_search(
    page: Any, server: Server, waiting_run: str, artifacts: Path
) -> None:
    later_id = server.start_run("t-alice", {"fix_version": "2.6.0", "repositories": ["web-app"]})
    try:
        sign_in(page, server)
        first, second = (page.locator(f'tr[data-run="{i}"]') for i in (waiting_run, later_id))
        expect(second).to_be_visible()
        expect(first).to_be_visible()
        expect(first.locator("[data-duration]")).to_have_text(re.compile(r"^(\d+h )?(\d+m )?\d+s$"))

        # Search by repository: only the 2.4.0 run has payments-api.
        page.get_by_label("Search").fill("payments-api")
        expect(second).to_have_count(0)
        expect(first).to_be_visible()
        assert "q=payments-api" in page.url
        page.get_by_label("Search").fill("")
        expect(second).to_be_visible()

        page.get_by_label("Fix version").fill("2.6.0")
        page.get_by_label("Fix version").press("Enter")
        page.get_by_label("Fix version").blur()
        expect(first).to_have_count(0)
        expect(second).to_be_visible()
        assert "version=2.6.0" in page.url
        shoot(page, artifacts, "runs-list-filtered")

        # The address keeps the filters: a reload shows the same list.
        page.reload()
        expect(page.get_by_label("Fix version")).to_have_value("2.6.0")
        expect(page.locator(f'tr[data-run="{waiting_run}"]')).to_have_count(0)
    finally:
        with server.client("t-alice") as alice:
            alice.post(f"/api/runs/{later_id}/cancel")


def test_docs_load_nothing_from_outside(page: Any, server: Server, artifacts: Path) -> None:
    outside: list[str] = []

    def only_this_host(route: Any) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_host)
    page.goto(f"{server.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Enigma")
    operations = page.locator(".opblock")
    expect(operations.first).to_be_visible()
    assert operations.count() > 10
    approve = page.locator(".opblock-summary-path", has_text="/api/runs/{run_id}/approve")
    expect(approve).to_have_count(1)
    page.wait_for_load_state("networkidle")
    shoot(page, artifacts, "docs")
    assert outside == [], f"/docs asked other hosts for {outside}"

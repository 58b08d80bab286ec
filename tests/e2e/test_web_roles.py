"""Who may decide what, as the page shows it: four-eyes, two approvers, the policy's roles,
pause, cancel and errors.

One server with the four-eyes rule on, a release policy that wants two approvers of each
plan, and slow sandbox checks (a run then stays in "wait for checks" long enough to be
paused while it runs).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import LAPTOP, Server, serve, shoot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PEOPLE = {
    "t-alice": {"user": "alice", "roles": ["release_manager", "approver"]},
    "t-bob": {"user": "bob", "roles": ["approver"]},
    "t-rita": {"user": "rita", "roles": ["release_manager"]},
    "t-carl": {"user": "carl", "roles": ["approver"]},
}
# Two different approvers for a plan; conflicts and errors as the built-in policy has them.
POLICY = """
[approvals.plan_approval]
approvers = 2
roles = ["approver", "admin"]
"""


@pytest.fixture(scope="module")
def four_eyes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`enigma serve` with ENIGMA_FOUR_EYES=true and POLICY; checks take 30 s to go green."""
    data = tmp_path_factory.mktemp("enigma-four-eyes")
    policy = data / "enigma.toml"
    policy.write_text(POLICY)
    settings = {"four_eyes": "true", "sandbox_check_delay_seconds": "30", "policy": str(policy)}
    with serve(data, PEOPLE, **settings) as running:
        yield running


@pytest.fixture
def as_user(browser: Any) -> Iterator[Any]:
    """A signed-in page per `as_user(server, token)`, each with its own storage.

    `config` adds fields to GET /api/config's answer, as a newer API would send them.
    """
    contexts: list[Any] = []
    errors: list[str] = []

    def open_page(server: Server, token: str, config: dict[str, Any] | None = None) -> Any:
        context = browser.new_context(viewport=LAPTOP)
        contexts.append(context)
        if config:

            def more_config(route: Any) -> None:
                response = route.fetch()
                route.fulfill(response=response, json={**response.json(), **config})

            context.route("**/api/config", more_config)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server.url}/")
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Release runs")).to_be_visible()
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def start(server: Server, token: str, repositories: list[str]) -> str:
    """Start a 2.4.0 run over `repositories` through the API; its id."""
    return server.start_run(token, {"fix_version": "2.4.0", "repositories": repositories})


def approve_plan(server: Server, run_id: str) -> None:
    """bob and carl approve the plan through the API (it takes two)."""
    for token in ("t-bob", "t-carl"):
        with server.client(token) as client:
            wait_for(client, run_id, "plan_approval")
            client.post(f"/api/runs/{run_id}/approve", json={"comment": "go"}).raise_for_status()


def wait_for(client: httpx.Client, run_id: str, kind: str) -> dict[str, Any]:
    """Poll until the run waits for a decision of `kind`; the run."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(f"/api/runs/{run_id}").json()
        if any(p["kind"] == kind for p in run["pending"]):
            return run
        time.sleep(0.2)
    pytest.fail(f"run {run_id} never waited for {kind}")


def test_four_eyes_roles_pause_and_cancel(as_user: Any, four_eyes: Server, artifacts: Path) -> None:
    run_id = start(four_eyes, "t-alice", ["web-app"])
    alice = as_user(four_eyes, "t-alice")
    alice.goto(f"{four_eyes.url}/ui/#/runs/{run_id}")
    plan = alice.locator('[data-decision="plan_approval"]')
    expect(plan).to_be_visible(timeout=60_000)

    # The starter is told at the top of the panel, before the plan, and cannot approve.
    notice = plan.locator("[data-four-eyes]")
    if notice.count() == 0:
        # GET /api/config does not say `four_eyes` (yet): the page learns it from the 403.
        plan.locator('button[data-action="approve"]').click()
    expect(notice).to_have_text(
        "You started this run; someone else must approve it (four-eyes)."
        " You can still use the other choices below."
    )
    expect(notice).to_be_in_viewport()
    expect(plan.locator('button[data-action="approve"]')).to_be_disabled()
    expect(plan.locator('button[data-action="reject"]')).to_be_enabled()
    assert notice.evaluate(
        "(n) => n.getBoundingClientRect().bottom"
        " < document.querySelector('.plan-repo').getBoundingClientRect().top"
    )
    shoot(alice, artifacts, "roles-01-four-eyes-starter")

    # When GET /api/config says `four_eyes`, the starter knows before trying.
    told = as_user(four_eyes, "t-alice", {"four_eyes": True})
    told.goto(f"{four_eyes.url}/ui/#/runs/{run_id}")
    expect(told.locator("[data-decision] [data-four-eyes]")).to_be_visible(timeout=60_000)
    expect(told.locator('[data-decision] button[data-action="approve"]')).to_be_disabled()

    # A release manager without a role the policy names: told who is awaited, offered amend.
    rita = as_user(four_eyes, "t-rita")
    rita.goto(f"{four_eyes.url}/ui/#/runs/{run_id}")
    rita_plan = rita.locator('[data-decision="plan_approval"]')
    expect(rita_plan.locator("[data-waiting-approver]")).to_contain_text(
        "Waiting for an approver. The release policy lets approver or admin approve or reject"
    )
    expect(rita_plan.locator("button[data-action]")).to_have_count(1)
    expect(rita_plan.locator('button[data-action="amend"]')).to_be_visible()
    shoot(rita, artifacts, "roles-02-release-manager-without-approver")

    # Someone else approves. Merges are slow (2 s each), so a pause waits for the merge in
    # flight; a run that only waits (for CI, say) pauses at once instead.
    four_eyes.fault(
        kind="latency", path_prefix="/github", route="/merges$", methods=["POST"], latency_ms=2000
    )
    # The plan takes two approvers: bob's approval is the first of two, and says so.
    expect(plan.locator("[data-approvals]")).to_have_text("0 of 2 approvals")
    bob = as_user(four_eyes, "t-bob")
    bob.goto(f"{four_eyes.url}/ui/#/runs/{run_id}")
    bob_plan = bob.locator('[data-decision="plan_approval"]')
    bob_plan.locator('button[data-action="approve"]').click()
    expect(bob_plan.locator(".form-note")).to_have_text(
        "Your approval is recorded; the run waits for another approver."
    )
    expect(plan.locator("[data-approvals]")).to_have_text("1 of 2 approvals (bob)")
    expect(bob_plan.locator("[data-approved-already]")).to_be_visible()
    expect(bob_plan.locator('button[data-action="approve"]')).to_be_disabled()
    expect(alice.locator("#run-status")).to_have_text("waiting for plan approval")
    shoot(bob, artifacts, "roles-03-one-of-two-approvals")
    carl = as_user(four_eyes, "t-carl")
    carl.goto(f"{four_eyes.url}/ui/#/runs/{run_id}")
    carl.locator('[data-decision="plan_approval"] button[data-action="approve"]').click()
    merging = alice.locator('svg.graph [data-node="release_repository:merge_feature_branches"]')
    expect(merging).to_have_attribute("data-status", "running", timeout=60_000)

    # Pause: "pausing at the next step…" from the request until the status changes.
    alice.evaluate(
        """() => { window.__sawPausing = false;
            new MutationObserver(() => { if (document.querySelector('#run-pausing'))
                window.__sawPausing = true; }).observe(document.body,
                {subtree: true, childList: true}); }"""
    )
    alice.locator('#run-head button[data-action="pause"]').click()
    alice.wait_for_function("() => window.__sawPausing === true")
    expect(alice.locator("#run-pausing")).to_have_text("pausing at the next step…")
    expect(alice.locator('#run-head button[data-action="pause"]')).to_have_text("Pausing…")
    shoot(alice, artifacts, "roles-04-pausing")
    expect(alice.locator("#run-pausing")).to_have_count(0, timeout=30_000)
    four_eyes.fault()
    checks = alice.locator('svg.graph [data-node="release_repository:wait_for_checks"]')

    # Cancelled: who and when, and nothing left amber or blue in the graph.
    alice.once("dialog", lambda dialog: dialog.accept())
    alice.locator('#run-head button[data-action="cancel"]').click()
    banner = alice.locator('[data-banner="cancelled"]')
    expect(banner.locator("#outcome-text")).to_contain_text("Cancelled by alice at", timeout=30_000)
    expect(alice.locator('#run-status [data-status="cancelled"]')).to_have_text("cancelled")
    expect(alice.locator("#run-pausing")).to_have_count(0)
    expect(alice.locator("#approvals [data-cancelled]")).to_contain_text("alice cancelled the run")
    expect(checks).to_have_attribute("data-status", "not_run")
    expect(alice.locator('svg.graph [data-node="__end__"]')).to_have_attribute(
        "data-status", "stopped"
    )
    expect(alice.locator('svg.graph [data-node="approve_release"]')).to_have_attribute(
        "data-status", "not_run"
    )
    waiting = 'svg.graph .g-node[data-status="waiting"], svg.graph .g-node[data-status="running"]'
    expect(alice.locator(waiting)).to_have_count(0)
    shoot(alice, artifacts, "roles-05-cancelled")
    alice.get_by_role("link", name="← Runs").click()
    row = alice.locator(f'tr[data-run="{run_id}"]')
    expect(row.locator('[data-status="cancelled"]')).to_be_visible()
    expect(row.locator("[data-outcome-text]")).to_contain_text("Cancelled by alice at")


def test_error_that_retrying_will_not_fix(as_user: Any, four_eyes: Server, artifacts: Path) -> None:
    # GitHub refuses to create the release branch (403): a permanent error.
    four_eyes.fault(
        kind="error", path_prefix="/github", route="/git/refs$", methods=["POST"], status=403
    )
    try:
        run_id = start(four_eyes, "t-alice", ["notifications"])
        approve_plan(four_eyes, run_id)
        rita = as_user(four_eyes, "t-rita")
        rita.goto(f"{four_eyes.url}/ui/#/runs/{run_id}")
        error = rita.locator('[data-decision="error"]')
        expect(error).to_be_visible(timeout=60_000)
        expect(rita.locator("#run-status")).to_have_text("error to decide")
        expect(rita.locator("#run-waiting")).to_contain_text(
            "error in create release branch (notifications)"
        )
        expect(error.locator('[data-transient="false"]')).to_contain_text(
            "Retrying will not fix this."
        )
        # Skip first and primary, Abort next, Retry last and plain: the policy lets a release
        # manager answer errors, aborting included.
        buttons = error.locator("button[data-action]")
        expect(buttons).to_have_count(3)
        expect(buttons.nth(0)).to_have_attribute("data-action", "skip")
        expect(buttons.nth(0)).to_have_class("btn primary")
        expect(buttons.nth(1)).to_have_attribute("data-action", "abort")
        expect(buttons.nth(2)).to_have_attribute("data-action", "retry")
        expect(buttons.nth(2)).to_have_class("btn")
        expect(error.locator("[data-barred]")).to_have_count(0)
        shoot(rita, artifacts, "roles-06-permanent-error")
        error.get_by_label("Comment").fill("no access to create branches")
        buttons.nth(1).click()
        expect(rita.locator('#run-status [data-status="failed"]')).to_be_visible(timeout=60_000)
        expect(rita.locator('[data-banner="failed"] #outcome-text')).to_contain_text("Failed")
        shoot(rita, artifacts, "roles-07-aborted")
    finally:
        four_eyes.fault()

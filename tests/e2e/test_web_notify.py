"""Notifications and decision deadlines on the run page.

One server whose notifications go to a real webhook receiver on a loopback port (it refuses
a bad signature, so "delivered" means signed right), and a release policy where nobody
approving a plan for 4 s rejects it, or pauses a major release's run; a `release` run's plan
waits an hour, long enough to be photographed with its deadline.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PHONE, TOKENS, Server, axe_violations, overflow, serve, shoot
from tests.e2e.pages import sign_in
from tests.notify.receivers import HttpReceiver, Reply

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SECRET = "whsec-e2e-5c2d"
POLICY = """
[approvals.plan_approval]
remind_after = "2s"
expire_after = "4s"
on_expire = "reject"

[approvals.plan_approval.by_release_type.major]
on_expire = "pause"

[approvals.plan_approval.by_release_type.release]
remind_after = "10m"
expire_after = "1h"
"""
HHMM = r"\d\d:\d\d"


@pytest.fixture(scope="module")
def notifying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, HttpReceiver]]:
    """`enigma serve` with ENIGMA_WEBHOOK_URL at a receiver, and POLICY; both."""
    receiver = HttpReceiver(secret=SECRET).start()
    data = tmp_path_factory.mktemp("enigma-notify")
    policy = data / "enigma.toml"
    policy.write_text(POLICY)
    settings = {"webhook_url": receiver.url("/hook"), "webhook_secret": SECRET}
    try:
        with serve(data, TOKENS, policy=str(policy), **settings) as running:
            yield running, receiver
    finally:
        receiver.stop()


def start(server: Server, release_type: str) -> str:
    """Start a 2.4.0 run over web-app through the API; its id."""
    body = {"fix_version": "2.4.0", "repositories": ["web-app"], "release_type": release_type}
    return server.start_run("t-alice", body)


def cancel(server: Server, run_id: str) -> None:
    """Cancel the run through the API."""
    with server.client("t-alice") as client:
        client.post(f"/api/runs/{run_id}/cancel").raise_for_status()


def received(receiver: HttpReceiver, run_id: str) -> list[str]:
    """The types of the notifications about `run_id` the receiver took, in order."""
    bodies = [json.loads(hit.body) for hit in receiver.hits_on("/hook")]
    return [b["type"] for b in bodies if b["run_id"] == run_id and b["id"] in receiver.events]


def wait_received(receiver: HttpReceiver, run_id: str, type_: str) -> None:
    """Wait until the receiver took a notification of `type_` about `run_id`."""
    deadline = time.monotonic() + 20
    while type_ not in received(receiver, run_id):
        assert time.monotonic() < deadline, f"no {type_} for {run_id}: {received(receiver, run_id)}"
        time.sleep(0.1)


def notification(page: Any, type_: str) -> Any:
    """The notifications list's row(s) of `type_`."""
    return page.locator(f'#notify-list tr[data-notification="{type_}"]')


def test_a_plan_nobody_approves_is_rejected_by_the_deadline(
    page: Any, notifying: tuple[Server, HttpReceiver], artifacts: Path
) -> None:
    server, receiver = notifying
    sign_in(page, server, "t-alice")
    run_id = start(server, "minor")
    page.goto(f"{server.url}/ui/#/runs/{run_id}")

    # The plan waits with its deadline, counting down; the request went to the webhook.
    plan = page.locator('[data-decision="plan_approval"]')
    expect(plan).to_be_visible(timeout=30_000)
    expect(plan.locator("[data-expire-at]")).to_have_text(
        re.compile(rf"^Expires at {HHMM} \(then rejected\) · in \d s$")
    )
    expect(plan.locator("[data-remind-at]")).to_have_text(
        re.compile(rf"^(Reminder at {HHMM} · (in \d s|now)|Reminded at {HHMM})$")
    )
    asked = notification(page, "decision.requested")
    expect(asked).to_have_attribute("data-status", "delivered")
    expect(asked.locator('td[data-label="What"]')).to_have_text("asked for plan approval")
    expect(asked.locator('td[data-label="Channel"]')).to_have_text("webhook")
    expect(asked.locator('td[data-label="Delivery"]')).to_have_text(
        re.compile(r"^delivered at \d\d:\d\d:\d\d$")
    )

    # Nobody decides: the deadline rejects the plan, and the page says it was the deadline.
    outcome = page.locator('[data-banner="rejected"][data-by="deadline"] #outcome-text')
    expect(outcome).to_contain_text("Plan rejected by the deadline at", timeout=20_000)
    expect(outcome).to_contain_text("no decision on the plan approval within 4s.")
    history = page.locator("#approvals li[data-approval]")
    expect(history).to_have_count(1)
    expect(history).to_have_attribute("data-expired", "reject")
    expect(history).to_contain_text(
        "plan approval expired: nobody decided in time, so the deadline rejected it"
    )
    expect(page.locator("[data-decision]")).to_have_count(0)
    for type_, words in (
        ("decision.reminder", "reminded · plan approval"),
        ("decision.expired", "decision expired · plan approval, rejected"),
        ("decision.made", "decision made · deadline chose reject"),
        ("run.finished", "release finished · rejected"),
    ):
        row = notification(page, type_)
        expect(row).to_have_attribute("data-status", "delivered")
        expect(row.locator('td[data-label="What"]')).to_have_text(words)
    expect(page.locator("#notify-count")).to_have_text("5 delivered")
    wait_received(receiver, run_id, "run.finished")
    assert received(receiver, run_id) == [
        "decision.requested",
        "decision.reminder",
        "decision.expired",
        "decision.made",
        "run.finished",
    ]
    shoot(page, artifacts, "notify-01-rejected-by-the-deadline")
    assert axe_violations(page) == [], "run rejected by the deadline, with its notifications"
    page.set_viewport_size(PHONE)
    assert overflow(page) == 0, "the notifications list scrolls sideways on a phone"


def test_a_deadline_that_pauses_offers_resume_which_asks_again(
    page: Any, notifying: tuple[Server, HttpReceiver], artifacts: Path
) -> None:
    server, receiver = notifying
    sign_in(page, server, "t-alice")
    run_id = start(server, "major")
    page.goto(f"{server.url}/ui/#/runs/{run_id}")
    plan = page.locator('[data-decision="plan_approval"]')
    expect(plan).to_be_visible(timeout=30_000)
    expect(plan.locator("[data-expire-at]")).to_contain_text("(then paused)")

    # Paused by the deadline: it says so, takes no decision, and offers Resume.
    banner = page.locator('[data-banner="paused"][data-paused-by="deadline"]')
    expect(banner).to_be_visible(timeout=20_000)
    why = banner.locator("#paused-why")
    expect(why).to_have_text("No decision on the plan approval within 4s.")
    expect(page.locator("#run-status")).to_have_text("paused")
    expect(page.locator("[data-decision]")).to_have_count(0)
    expect(page.locator('#approvals li[data-expired="pause"]')).to_contain_text(
        "plan approval expired: nobody decided in time, so the deadline paused the run"
    )
    expired = notification(page, "decision.expired")
    expect(expired.locator('td[data-label="What"]')).to_have_text(
        "decision expired · plan approval, run paused"
    )
    expect(expired).to_have_attribute("data-status", "delivered")
    shoot(page, artifacts, "notify-02-paused-by-the-deadline")
    assert axe_violations(page) == [], "run paused by the deadline"

    # Resume asks again, with a fresh deadline.
    banner.locator('button[data-action="resume"]').click()
    expect(plan).to_be_visible(timeout=30_000)
    expect(plan.locator("[data-expire-at]")).to_have_text(
        re.compile(rf"^Expires at {HHMM} \(then paused\) · in \d s$")
    )
    expect(notification(page, "decision.requested")).to_have_count(2)
    cancel(server, run_id)
    wait_received(receiver, run_id, "run.finished")


def test_undeliverable_and_pending_notifications_and_no_channel(
    page: Any, notifying: tuple[Server, HttpReceiver], artifacts: Path
) -> None:
    server, receiver = notifying
    receiver.script("/hook", Reply(410, b"this hook was removed"))
    sign_in(page, server, "t-alice")
    run_id = start(server, "release")
    page.goto(f"{server.url}/ui/#/runs/{run_id}")
    plan = page.locator('[data-decision="plan_approval"]')
    expect(plan).to_be_visible(timeout=30_000)
    expect(plan.locator("[data-remind-at]")).to_have_text(
        re.compile(rf"^Reminder at {HHMM} · in 10 min$")
    )
    expect(plan.locator("[data-expire-at]")).to_have_text(
        re.compile(rf"^Expires at {HHMM} \(then rejected\) · in 1 hour$")
    )

    # The receiver refused it for good (410): undeliverable, with the error.
    refused = notification(page, "decision.requested")
    expect(refused).to_have_attribute("data-status", "undeliverable")
    expect(refused.locator('td[data-label="Delivery"]')).to_contain_text(
        "undeliverable after 1 time"
    )
    expect(refused.locator(".notify-error")).to_contain_text("410")
    expect(page.locator("#notify-count")).to_have_text("1 undeliverable")
    shoot(page, artifacts, "notify-03-deadline-and-undeliverable")
    assert axe_violations(page) == [], "pending plan with its deadline, undeliverable notification"
    page.set_viewport_size(PHONE)
    assert overflow(page) == 0, "the deadline and notifications scroll sideways on a phone"

    # A busy receiver (503): pending, with its error and when it is tried again.
    receiver.script("/hook", Reply(503, b"busy"))
    cancel(server, run_id)
    finished = notification(page, "run.finished")
    expect(finished).to_have_attribute("data-status", "pending", timeout=15_000)
    expect(finished.locator('td[data-label="Delivery"]')).to_contain_text(
        re.compile(r"pending tried 1 time; next try at \d\d:\d\d:\d\d")
    )
    expect(finished.locator(".notify-error")).to_contain_text("503")
    assert axe_violations(page) == [], "pending notification"

    # Without a channel the section says so in one line.
    page.route(
        re.compile(r"/api/notifications\?"),
        lambda route: route.fulfill(json={"items": [], "counts": {}, "channels": []}),
    )
    page.reload()
    expect(page.locator("#notify-list [data-no-channels]")).to_have_text(
        "No notification channels are configured; see the README."
    )
    expect(page.locator("#notifications table")).to_have_count(0)

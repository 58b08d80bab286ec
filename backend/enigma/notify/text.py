"""Notifications as words for people: a subject line, a few labelled facts, a short body.

Slack and e-mail both render from here, so a notification reads the same everywhere:
"Enigma: 2.4.0 waits for release approval (acme/payments-api, acme/web)". Everything is
plain text; each channel escapes it for its own markup (Slack's `&<>`, HTML).
"""

from __future__ import annotations

from enigma.notify.message import DecisionInfo, Notification, Outcome

__all__ = ["body", "facts", "headline", "kind_name", "repositories_brief", "subject", "summary"]

_KINDS = {
    "plan_approval": "plan approval",
    "release_approval": "release approval",
    "conflict": "a decision on a merge conflict",
    "error": "a decision on an error",
}
_FINISHED = {
    "succeeded": "was released",
    "partial": "was partly released",
    "rejected": "was rejected",
    "cancelled": "was cancelled",
    "failed": "failed",
}
_SHOWN_REPOSITORIES = 3


def kind_name(kind: str) -> str:
    """A decision kind as words ("release approval")."""
    return _KINDS.get(kind, kind.replace("_", " "))


def repositories_brief(repositories: list[str]) -> str:
    """The first few repositories, then how many more."""
    shown = ", ".join(repositories[:_SHOWN_REPOSITORIES])
    more = len(repositories) - _SHOWN_REPOSITORIES
    return f"{shown}, +{more} more" if more > 0 else shown


def headline(n: Notification) -> str:
    """What happened, in a few words, without the product name or repositories."""
    version = n.fix_version
    if n.decision is not None:
        return _decision_headline(n, n.decision)
    assert n.outcome is not None  # the model guarantees one of the two
    return f"{version} {_FINISHED[n.outcome.status]}"


def _decision_headline(n: Notification, d: DecisionInfo) -> str:
    what = kind_name(d.kind)
    if n.type == "decision.requested":
        return f"{n.fix_version} waits for {what}"
    if n.type == "decision.reminder":
        due = f" (due {_short_time(d.deadline)})" if d.deadline else ""
        return f"Reminder: {n.fix_version} still waits for {what}{due}"
    if n.type == "decision.expired":
        done = "rejected" if d.action == "reject" else "paused"
        return f"{n.fix_version}: {what} expired, the run was {done}"
    return f"{n.fix_version}: {n.actor or 'someone'} chose {d.action!r} on {what}"


def subject(n: Notification) -> str:
    """One line, e.g. "Enigma: 2.4.0 waits for release approval (acme/payments-api, …)"."""
    line = f"Enigma: {headline(n)} ({repositories_brief(n.repositories)})"
    return " ".join(line.split())  # one line whatever the inputs held (mail headers, Slack)


def facts(n: Notification) -> list[tuple[str, str]]:
    """Labelled facts, most important first (Slack fields, e-mail rows)."""
    rows = [
        ("Version", f"{n.fix_version} ({n.release_type})"),
        ("Repositories", ", ".join(n.repositories)),
    ]
    if n.decision is not None:
        rows += _decision_facts(n.decision)
    if n.outcome is not None:
        rows += _outcome_facts(n.outcome)
    if n.actor:
        rows.append(("By", n.actor))
    return rows


def _decision_facts(d: DecisionInfo) -> list[tuple[str, str]]:
    need = f"{d.approvers.required} of " if d.approvers.required > 1 else "one of "
    rows = [
        ("Decision", kind_name(d.kind)),
        ("Choices", ", ".join(d.choices)),
        ("Who may decide", need + ", ".join(d.approvers.roles)),
    ]
    if d.deadline:
        then = f", then {d.on_expiry}" if d.on_expiry else ""
        rows.append(("Deadline", f"{_short_time(d.deadline)}{then}"))
    if d.action:
        rows.append(("Answer", d.action + (f": {d.comment}" if d.comment else "")))
    return rows


def _outcome_facts(o: Outcome) -> list[tuple[str, str]]:
    rows = [("Outcome", o.status + (f": {o.reason}" if o.reason else ""))]
    if o.pull_requests:
        prs = "\n".join(f"{repo}: {url}" for repo, url in sorted(o.pull_requests.items()))
        rows.append(("Pull requests", prs))
    if o.notes_url:
        rows.append(("Release notes", o.notes_url))
    if o.left_out:
        rows.append(("Left out", ", ".join(o.left_out)))
    return rows


def summary(n: Notification) -> str:
    """The sentence under the headline: what is decided, or why the run ended so."""
    if n.decision is not None:
        return n.decision.summary
    assert n.outcome is not None
    return n.outcome.reason


def body(n: Notification) -> str:
    """The plain-text message: headline, summary, facts, links, event id."""
    lines = [headline(n) + ".", ""]
    if summary(n):
        lines += [summary(n), ""]
    for label, value in facts(n):
        if "\n" in value:
            lines.append(f"{label}:")
            lines += [f"  {line}" for line in value.splitlines()]
        else:
            lines.append(f"{label}: {value}")
    lines += ["", f"Open in Enigma: {n.links.run}", f"API: {n.links.api}", ""]
    lines.append(f"Event {n.id} ({n.type}, {n.time})")
    return "\n".join(lines) + "\n"


def _short_time(iso: str) -> str:
    """2026-03-01T09:30:00.000Z -> 2026-03-01 09:30 UTC."""
    return f"{iso[:10]} {iso[11:16]} UTC" if len(iso) >= 16 else iso

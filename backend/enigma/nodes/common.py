"""Small pieces every node uses: dependencies, narrative notes, error records, decisions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from langgraph.runtime import Runtime
from langgraph.types import interrupt
from typing_extensions import TypedDict

from enigma.context import Clients, Context
from enigma.integrations.errors import IntegrationError
from enigma.integrations.patience import call_patiently
from enigma.state import ApprovalRecord, ErrorRecord, Note

__all__ = [
    "Decision",
    "approval_request",
    "ask_human",
    "count",
    "decision_note",
    "deps",
    "error_record",
    "io",
    "now_iso",
    "policy_decision",
    "record_decision",
    "say",
]

log = logging.getLogger("enigma.nodes")

T = TypeVar("T")


class Decision(TypedDict):
    """A human's (or the policy's) answer to an interrupt.

    `approvers` lists everyone who approved when a decision takes several approvers (the
    last of them is `actor`).
    """

    action: str
    actor: str
    comment: str
    exclude: dict[str, Any]
    approvers: list[str]


def record_decision(
    context: Context, kind: str, decision: Decision, plan_hash: str | None = None
) -> list[ApprovalRecord]:
    """The state's records of a decision: who chose what, when, under which plan and policy.

    A decision several people approved gives one record per approver.
    """
    actors = decision["approvers"] or [decision["actor"]]
    return [
        ApprovalRecord(
            kind=kind,
            action=decision["action"],
            actor=actor,
            at=now_iso(context),
            comment=decision["comment"] if actor == decision["actor"] else "",
            plan_hash=plan_hash,
            policy_hash=context.policy_hash(),
        )
        for actor in actors
    ]


def policy_decision(action: str, comment: str) -> Decision:
    """A decision the policy takes instead of a human."""
    return Decision(action=action, actor="policy", comment=comment, exclude={}, approvers=[])


def approval_request(context: Context, kind: str, release_type: str) -> dict[str, Any]:
    """Who may answer a decision of `kind`, how many of them, and its deadlines (policy)."""
    rule = context.rules.approval_rule(kind, release_type)
    return {
        "approvers": rule.approvers,
        "roles": list(rule.roles),
        "four_eyes": rule.uses_four_eyes(context.four_eyes),
        "remind_after": rule.remind_after,
        "expire_after": rule.expire_after,
        "on_expire": rule.on_expire,
        "policy_hash": context.policy_hash(),
    }


def deps(runtime: Runtime[Context]) -> tuple[Context, Clients]:
    """The run's context and clients (TypeError for a run started without a Context)."""
    context = runtime.context
    if not isinstance(context, Context):  # LangGraph passes None when no context was given
        raise TypeError("the release graph runs with context=Context(clients=...)")
    return context, context.clients


async def io(context: Context, fn: Callable[..., T], *args: Any) -> T:
    """Call a (blocking) client method on the run's I/O threads; outages are waited out."""
    return await call_patiently(fn, *args, executor=context.executor, patience=context.patience)


def now_iso(context: Context) -> str:
    """The context clock's time as ISO 8601."""
    return context.clock.now().isoformat(timespec="seconds")


def say(step: str, text: str) -> Note:
    """One line of the run's narrative, attributed to the step that did it."""
    return Note(step=step, text=text)


def decision_note(step: str, records: list[ApprovalRecord]) -> Note:
    """A decision in the narrative: who decided what, and their comment."""
    last = records[-1]
    who = " and ".join(r["actor"] for r in records)
    comment = f": {last['comment']}" if last["comment"] else ""
    return say(step, f"{who} chose {last['action']} ({last['kind']}){comment}")


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 ticket`, `2 tickets`: a number with its noun agreeing."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def error_record(
    step: str,
    exc: Exception,
    repo: str | None,
    attempt: int,
    choices: list[str],
    operation: str | None = None,
) -> ErrorRecord:
    """Describe a failed step so policy or a human can choose what to do next.

    The message names the operation (when there is one) and quotes the service's own words.
    """
    transient = isinstance(exc, IntegrationError) and exc.transient
    message = str(exc) if isinstance(exc, IntegrationError) else f"{type(exc).__name__}: {exc}"
    if operation:
        message = f"{operation} failed: {message}"
    log.warning("step %s%s failed: %s", step, f" [{repo}]" if repo else "", message)
    return ErrorRecord(
        step=step,
        repo=repo,
        kind=type(exc).__name__,
        message=message,
        transient=transient,
        attempt=attempt,
        choices=choices,
        operation=operation,
    )


def ask_human(kind: str, payload: dict[str, Any], choices: list[str]) -> Decision:
    """Pause the run with an interrupt until a decision with one of `choices` arrives.

    The resume value is `{"action": <choice>, "actor": ..., "comment": ...}` (plus `exclude` for
    an amendment). A malformed value asks again rather than guessing: the API validates first,
    this guards Studio and hand-written resumes.
    """
    request = {"kind": kind, "choices": choices, **payload}
    while True:
        answer = interrupt(request)
        if isinstance(answer, str):
            answer = {"action": answer}
        if isinstance(answer, dict) and answer.get("action") in choices:
            approvers = answer.get("approvers")
            return Decision(
                action=str(answer["action"]),
                actor=str(answer.get("actor") or "someone"),
                comment=str(answer.get("comment") or ""),
                exclude=answer.get("exclude") or {},
                approvers=[str(a) for a in approvers] if isinstance(approvers, list) else [],
            )
        request = {**request, "invalid_answer": f"expected one of {choices}, got {answer!r}"}

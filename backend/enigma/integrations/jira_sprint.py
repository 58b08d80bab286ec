"""The sprint of a Jira ticket, from the Sprint custom field in any of its shapes.

Jira Cloud and recent Server answer a list of sprint objects; old Server answers strings like
`com.atlassian.greenhopper.service.sprint.Sprint@1f[id=42,...,name=Sprint 42,...]`.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["sprint_name"]

# Old Jira Server renders a sprint as "com.atlassian...Sprint@1f[id=42,...,name=Sprint 42,...]".
_SPRINT_NAME = re.compile(
    r"[\[,]name=(.*?),(?:goal|startDate|endDate|completeDate|activatedDate|sequence|"
    r"autoStartStop|synced|incompleteIssuesDestinationId)="
)
_SPRINT_NAME_SHORT = re.compile(r"[\[,]name=([^,\]]*)")


def sprint_name(value: Any, wanted: str | None = None) -> str | None:
    """The sprint of a ticket from the Sprint field (dicts, old-style strings, or a list).

    A ticket carried over has several sprints: the one asked for wins, then the active one,
    then the latest.
    """
    items = value if isinstance(value, list) else [] if value is None else [value]
    sprints: list[tuple[str, str]] = []
    for item in items:
        if isinstance(item, dict) and item.get("name"):
            sprints.append((str(item["name"]), str(item.get("state") or "").casefold()))
        elif isinstance(item, str):
            match = _SPRINT_NAME.search(item) or _SPRINT_NAME_SHORT.search(item)
            state = re.search(r"[\[,]state=([A-Za-z]+)", item)
            name = match.group(1) if match else item
            sprints.append((name, state.group(1).casefold() if state else ""))
    if not sprints:
        return None
    for name, _ in sprints:
        if wanted is not None and _same(name, wanted):
            return name
    active = [name for name, state in sprints if state == "active"]
    return active[0] if active else sprints[-1][0]


def _same(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()

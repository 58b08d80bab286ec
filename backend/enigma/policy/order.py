"""The order of repositories (`after`): reference checks, cycles, and waves of a release."""

from __future__ import annotations

from collections.abc import Iterable

from enigma.policy.problems import Problem, format_path
from enigma.policy.schema import Policy

__all__ = ["reference_problems", "waves"]


def reference_problems(policy: Policy, known_repositories: Iterable[str] = ()) -> list[Problem]:
    """`after` names that are unknown or form a cycle (lines are filled in by the loader).

    A name is known when the file has a `[repositories.NAME]` table for it (an empty table is
    enough) or the caller passes it in `known_repositories` (the configured repositories,
    `--repos`). Without such a list, a policy must declare every repository it names.
    """
    known = set(policy.repositories) | set(known_repositories)
    problems: list[Problem] = []
    for name, table in policy.repositories.items():
        for index, other in enumerate(table.after):
            path = format_path(("repositories", name, "after", index))
            if other == name:
                problems.append(Problem(path, f"{name} cannot come after itself"))
            elif other not in known:
                problems.append(
                    Problem(
                        path,
                        f"{name} comes after unknown repository {other!r}: add a "
                        f"[repositories.{other}] table, or check the spelling",
                    )
                )
    for cycle in _cycles(policy):
        problems.append(
            Problem(
                format_path(("repositories", cycle[0], "after")),
                "repositories form a cycle: " + " → ".join([*cycle, cycle[0]]),
            )
        )
    return problems


def _edges(policy: Policy) -> dict[str, list[str]]:
    return {
        name: [o for o in table.after if o in policy.repositories and o != name]
        for name, table in policy.repositories.items()
    }


def _cycles(policy: Policy) -> list[list[str]]:
    """One cycle per strongly connected group of repositories, starting at its first name."""
    edges = _edges(policy)
    cycles: list[list[str]] = []
    for group in _strong_groups(edges):
        if len(group) < 2:
            continue
        members = set(group)
        walk = [min(group)]
        # always step to the smallest member reachable: inside a strong group this must repeat
        while True:
            step = min(o for o in edges[walk[-1]] if o in members)
            if step in walk:
                cycle = walk[walk.index(step) :]
                start = cycle.index(min(cycle))
                cycles.append(cycle[start:] + cycle[:start])
                break
            walk.append(step)
    return sorted(cycles)


def _strong_groups(edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components (iterative: policies may list many repos)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    group: list[str] = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    groups.append(sorted(group))
    return groups


def waves(policy: Policy, repositories: list[str]) -> list[list[str]]:
    """The repositories of one release in layers: each wave starts when the previous is ready.

    Follows each repository's `after`, restricted to the repositories in this release: an
    `after` naming a repository that is not being released is already satisfied, and the
    order does not pass through it (C after B after A, releasing A and C: one wave). Within a
    wave, repositories keep the order they were given in. At finalize, waves merge in order.
    Raises ValueError on a cycle (a loaded policy never has one).
    """
    present = list(dict.fromkeys(repositories))
    waiting = {
        name: {o for o in policy.for_repository(name).after if o in present and o != name}
        for name in present
    }
    done: set[str] = set()
    layers: list[list[str]] = []
    while len(done) < len(present):
        layer = [r for r in present if r not in done and waiting[r] <= done]
        if not layer:
            stuck = ", ".join(r for r in present if r not in done)
            raise ValueError(f"repositories form a cycle through `after`: {stuck}")
        layers.append(layer)
        done.update(layer)
    return layers

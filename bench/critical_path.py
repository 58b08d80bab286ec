"""The release's critical path: the longest chain of peer calls that must follow one another.

The dependency model (what a release needs before it can make each call, whoever runs it):

    fetch (version, then tickets)
      -> per repository, side by side:
           info -> mirror sync -> release branch -> merge 1 -> ... -> merge n (in order:
           each merge builds on the last) -> pull request, while CI runs on the last merge
           -> the final read of the checks (pull request head, check runs)
      -> notes page (it lists what every repository shipped)
      -> side by side: per repository (merge the pull request -> publish its release),
                       per ticket (transition -> comment -> link)
      -> release the Jira version (last: it says the release is out)

A chain's cost is its calls x the added latency; CI overlaps the pull request's calls, so a
repository's leg costs `max(CI, pull request calls x latency)` past its last merge. Server time
is left out, so this is a floor: no orchestrator can finish the release faster than it. Each
operation's call count comes from the straight-line script's trace (`release_script.py`),
which made every call one at a time and read the sandbox's request counter between them.
"""

from __future__ import annotations

from collections import defaultdict

__all__ = ["critical_path_seconds"]


def critical_path_seconds(calls: dict[str, int], latency: float, ci: float) -> float:
    """The floor on the release's wall time under `latency` per call and `ci` per CI run."""
    repos: dict[str, float] = defaultdict(float)
    finals: dict[str, float] = defaultdict(float)
    tickets: dict[str, float] = defaultdict(float)
    for op, n in calls.items():
        kind, _, rest = op.partition(":")
        name, _, step = rest.partition(":")
        if kind == "repo" and step != "pr":
            repos[name] += n * latency
        elif kind == "final":
            finals[name] += n * latency
        elif kind == "ticket":
            tickets[name] += n * latency
    for repo in repos:
        repos[repo] += max(ci, calls.get(f"repo:{repo}:pr", 0) * latency)
    fetch = (calls.get("fetch:version", 0) + calls.get("fetch:search", 0)) * latency
    notes = calls.get("notes", 0) * latency
    version = calls.get("version", 0) * latency
    closing = max([*finals.values(), *tickets.values(), 0.0])
    return fetch + max([*repos.values(), 0.0]) + notes + closing + version

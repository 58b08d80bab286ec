"""GitHub computes a pull request's mergeability lazily; the sandbox can too.

On github.com a pull request that was just opened, or whose head or base just moved, answers
`"mergeable": null, "mergeable_state": "unknown"` until a background job has tried the merge;
a merge requested meanwhile is refused with a 405 "Base branch was modified. Review and try
the merge again." that a retry a moment later does not get. Clients have to poll for the
answer (PyGithub's `PullRequest.mergeable` is simply None then) and treat that 405 as
transient, unlike "Pull Request is not mergeable", which stays.

The setting `mergeable_delay_seconds` (a sandbox setting, else the seed's `[github]` table;
default 0, which keeps the answer immediate) is how long the sandbox's "job" takes. It runs
from the moment the sandbox first sees a pull request with a given pair of base and head
commits (when it is opened, or the first time it is looked at or merged after a branch moved),
which the store remembers per pull request.
"""

from __future__ import annotations

from typing import Any

from enigma.sandbox.github_host import PEER_NAME, RepoContext, error

__all__ = ["MERGE_DOCS_URL", "mergeability_settled", "refuse_while_unsettled"]

MERGE_DOCS_URL = "https://docs.github.com/rest/pulls/pulls#merge-a-pull-request"


def _delay(ctx: RepoContext) -> float:
    return float(ctx.host.option("mergeable_delay_seconds", 0.0))


def mergeability_settled(ctx: RepoContext, doc: dict[str, Any], base: str, head: str) -> bool:
    """Whether GitHub would know by now if `head` merges into `base` for this pull request."""
    delay = _delay(ctx)
    if delay <= 0:
        return True
    key = f"{ctx.full_name}#{doc['number']}"
    now = ctx.host.now()
    with ctx.host.sandbox.store.transaction() as tx:
        seen = tx.get(PEER_NAME, "mergeability", key)
        if seen is None or (seen["base"], seen["head"]) != (base, head):
            tx.put(PEER_NAME, "mergeability", key, {"base": base, "head": head, "since": now})
            return False
        return now >= float(seen["since"]) + delay


def refuse_while_unsettled(ctx: RepoContext, doc: dict[str, Any], base: str, head: str) -> None:
    """GitHub's transient 405 for a merge asked before mergeability is known."""
    if not mergeability_settled(ctx, doc, base, head):
        message = "Base branch was modified. Review and try the merge again."
        raise error(405, message, documentation_url=MERGE_DOCS_URL)

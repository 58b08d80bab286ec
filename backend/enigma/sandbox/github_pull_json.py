"""JSON of pull requests and issue comments, with git facts read at answer time.

An open pull request shows its branches' current commits, whether they merge cleanly
(`git merge-tree`; "unknown" while the sandbox plays GitHub's lazy computation, see
`github_mergeability`), and its commit and line counts; a merged one shows what was true when it
merged (kept in its document).
"""

from __future__ import annotations

from typing import Any

from enigma.sandbox.github_host import RepoContext
from enigma.sandbox.github_json import node_id, repository_json
from enigma.sandbox.github_mergeability import mergeability_settled
from enigma.sandbox.gitrepo import GitError

__all__ = ["comment_json", "pull_json"]

Json = dict[str, Any]


def _side(ctx: RepoContext, branch: str, sha: str, repo: Json) -> Json:
    return {
        "label": f"{ctx.rl.owner}:{branch}",
        "ref": branch,
        "sha": sha,
        "user": ctx.org,
        "repo": repo,
    }


def _live(ctx: RepoContext, doc: Json) -> tuple[str, str]:
    """Head and base commits: the branches' current ones while open, else those recorded."""
    if doc["state"] != "open":
        return doc["head_sha"], doc["base_sha"]
    head = ctx.branch_sha(doc["head"]) or doc["head_sha"]
    return head, ctx.branch_sha(doc["base"]) or doc["base_sha"]


def _mergeability(ctx: RepoContext, doc: Json, base: str, head: str) -> tuple[bool | None, str]:
    if doc["state"] != "open" or not mergeability_settled(ctx, doc, base, head):
        return None, "unknown"
    try:
        _, conflicts = ctx.git.merge_tree(base, head)
    except GitError:
        return None, "unknown"
    return (False, "dirty") if conflicts else (True, "clean")


def _counts(ctx: RepoContext, doc: Json, base: str, head: str) -> Json:
    if "stats" in doc:
        return dict(doc["stats"])
    files = ctx.git.diff_files(ctx.git.merge_base(base, head) or base, head)
    return {
        "commits": ctx.git.count(f"{base}..{head}"),
        "additions": sum(f.additions for f in files),
        "deletions": sum(f.deletions for f in files),
        "changed_files": len(files),
    }


def pull_json(ctx: RepoContext, doc: Json, full: bool) -> Json:
    """A `pull-request` (full) or `pull-request-simple` (lists)."""
    rl, n = ctx.rl, int(doc["number"])
    url, html = f"{rl.api}/pulls/{n}", f"{rl.web}/pull/{n}"
    head, base = _live(ctx, doc)
    repo = repository_json(rl, ctx.doc, ctx.org)
    links = {
        "self": url,
        "html": html,
        "issue": f"{rl.api}/issues/{n}",
        "comments": f"{rl.api}/issues/{n}/comments",
        "review_comments": f"{url}/comments",
        "review_comment": f"{rl.api}/pulls/comments{{/number}}",
        "commits": f"{url}/commits",
        "statuses": f"{rl.api}/statuses/{head}",
    }
    out: Json = {
        "url": url,
        "id": doc["id"],
        "node_id": node_id("PullRequest", doc["id"]),
        "html_url": html,
        "diff_url": f"{html}.diff",
        "patch_url": f"{html}.patch",
        "issue_url": links["issue"],
        "commits_url": links["commits"],
        "review_comments_url": links["review_comments"],
        "review_comment_url": links["review_comment"],
        "comments_url": links["comments"],
        "statuses_url": links["statuses"],
        "number": n,
        "state": doc["state"],
        "locked": False,
        "title": doc["title"],
        "user": ctx.bot,
        "body": doc.get("body"),
        "labels": [],
        "milestone": None,
        "active_lock_reason": None,
        "created_at": doc["created_at"],
        "updated_at": doc["updated_at"],
        "closed_at": doc.get("closed_at"),
        "merged_at": doc.get("merged_at"),
        "merge_commit_sha": doc.get("merge_commit_sha"),
        "assignee": None,
        "assignees": [],
        "requested_reviewers": [],
        "requested_teams": [],
        "head": _side(ctx, doc["head"], head, repo),
        "base": _side(ctx, doc["base"], base, repo),
        "_links": {name: {"href": href} for name, href in links.items()},
        "author_association": "MEMBER",
        "auto_merge": None,
        "draft": bool(doc.get("draft", False)),
    }
    if not full:
        return out
    mergeable, mergeable_state = _mergeability(ctx, doc, base, head)
    return (
        out
        | _counts(ctx, doc, base, head)
        | {
            "merged": bool(doc.get("merged", False)),
            "mergeable": mergeable,
            "rebaseable": False,
            "mergeable_state": mergeable_state,
            "merged_by": ctx.bot if doc.get("merged") else None,
            "comments": int(doc.get("comments", 0)),
            "review_comments": 0,
            "maintainer_can_modify": bool(doc.get("maintainer_can_modify", False)),
        }
    )


def comment_json(ctx: RepoContext, doc: Json) -> Json:
    """An `issue-comment` on a pull request."""
    rl, n, ident = ctx.rl, int(doc["number"]), int(doc["id"])
    return {
        "id": ident,
        "node_id": node_id("IssueComment", ident),
        "url": f"{rl.api}/issues/comments/{ident}",
        "html_url": f"{rl.web}/pull/{n}#issuecomment-{ident}",
        "issue_url": f"{rl.api}/issues/{n}",
        "body": doc["body"],
        "user": ctx.bot,
        "created_at": doc["created_at"],
        "updated_at": doc["updated_at"],
        "author_association": "MEMBER",
    }

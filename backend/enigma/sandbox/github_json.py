"""GitHub's JSON shapes, built from git facts and stored documents, with our own URLs.

Every absolute URL is derived from `Links`, which comes from the address the client used, so
PyGithub's check that followed URLs stay under its base URL holds however the sandbox is
reached. API URLs live under `<root>/api/v3`; web (`html_url`) URLs under `<root>`, and the
clone URL points at the git smart-HTTP path `<root>/<owner>/<repo>.git`.

Shapes follow GitHub's OpenAPI description (the subset in tests/contracts: `full-repository`,
`pull-request`, `check-run`, ...); the contract tests hold every answer to it.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from enigma.sandbox.gitrepo import ChangedFile, CommitInfo, Comparison, Identity

__all__ = [
    "Links",
    "RepoLinks",
    "commit_json",
    "comparison_json",
    "iso",
    "node_id",
    "repository_json",
    "user_json",
]

Json = dict[str, Any]
EPOCH_CREATED = "2026-01-01T00:00:00Z"


def iso(when: datetime | float) -> str:
    """GitHub's timestamp form: UTC, seconds, a Z."""
    moment = when if isinstance(when, datetime) else datetime.fromtimestamp(when, UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, ident: int | str) -> str:
    """An opaque global id in the style of GitHub's GraphQL node ids."""
    return base64.b64encode(f"{kind}:{ident}".encode()).decode().rstrip("=")


@dataclass(frozen=True)
class Links:
    """The peer's own addresses: root is e.g. `http://127.0.0.1:5000/github`."""

    root: str

    @property
    def api(self) -> str:
        """The REST API base (what PyGithub is given as base_url)."""
        return f"{self.root}/api/v3"

    def repo(self, owner: str, name: str) -> RepoLinks:
        """Addresses of one repository."""
        return RepoLinks(self, owner, name)


@dataclass(frozen=True)
class RepoLinks:
    """Addresses of one repository's API resources and web pages."""

    links: Links
    owner: str
    name: str

    @property
    def api(self) -> str:
        """`<api>/repos/<owner>/<name>`."""
        return f"{self.links.api}/repos/{self.owner}/{self.name}"

    @property
    def web(self) -> str:
        """`<root>/<owner>/<name>`: where html_url values point."""
        return f"{self.links.root}/{self.owner}/{self.name}"

    @property
    def clone(self) -> str:
        """The smart-HTTP clone URL served by `git http-backend`."""
        return f"{self.web}.git"

    @property
    def full_name(self) -> str:
        """`owner/name`."""
        return f"{self.owner}/{self.name}"


def user_json(links: Links, login: str, ident: int, kind: str = "User") -> Json:
    """A `simple-user`."""
    u = f"{links.api}/users/{login}"
    return {
        "login": login,
        "id": ident,
        "node_id": node_id(kind, ident),
        "avatar_url": f"{links.root}/avatars/{login}",
        "gravatar_id": "",
        "url": u,
        "html_url": f"{links.root}/{login}",
        "followers_url": f"{u}/followers",
        "following_url": f"{u}/following{{/other_user}}",
        "gists_url": f"{u}/gists{{/gist_id}}",
        "starred_url": f"{u}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{u}/subscriptions",
        "organizations_url": f"{u}/orgs",
        "repos_url": f"{u}/repos",
        "events_url": f"{u}/events{{/privacy}}",
        "received_events_url": f"{u}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": False,
    }


_REPO_URLS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repository_json(rl: RepoLinks, doc: Json, owner: Json) -> Json:
    """A repository: fits both `full-repository` and the `repository` inside pull requests."""
    counts = {k: 0 for k in ("forks", "forks_count", "stargazers_count", "watchers")}
    counts |= {"watchers_count": 0, "size": 0, "network_count": 0, "subscribers_count": 0}
    flags = {k: False for k in ("fork", "private", "archived", "disabled", "is_template")}
    flags |= {"has_issues": True, "has_projects": False, "has_wiki": False, "has_pages": False}
    flags |= {"has_downloads": False, "has_discussions": False, "allow_forking": False}
    merge_rules = {"allow_merge_commit": True, "allow_squash_merge": True}
    merge_rules |= {"allow_rebase_merge": False, "delete_branch_on_merge": False}
    return {
        "id": doc["id"],
        "node_id": node_id("Repository", doc["id"]),
        "name": rl.name,
        "full_name": rl.full_name,
        "owner": owner,
        "description": doc.get("description"),
        "homepage": None,
        "language": None,
        "mirror_url": None,
        "license": None,
        "url": rl.api,
        "html_url": rl.web,
        "clone_url": rl.clone,
        "git_url": rl.clone,
        "ssh_url": rl.clone,
        "svn_url": rl.web,
        **{key: rl.api + suffix for key, suffix in _REPO_URLS.items()},
        "default_branch": doc.get("default_branch", "main"),
        "visibility": "public",
        "topics": [],
        "open_issues": doc.get("open_pulls", 0),
        "open_issues_count": doc.get("open_pulls", 0),
        "created_at": doc.get("created_at", EPOCH_CREATED),
        "updated_at": doc.get("updated_at", EPOCH_CREATED),
        "pushed_at": doc.get("pushed_at", EPOCH_CREATED),
        "permissions": {
            "admin": True,
            "maintain": True,
            "push": True,
            "triage": True,
            "pull": True,
        },
        **counts,
        **flags,
        **merge_rules,
    }


def _git_user(who: Identity) -> Json:
    return {"name": who.name, "email": who.email, "date": iso(who.when)}


def commit_json(rl: RepoLinks, info: CommitInfo) -> Json:
    """A `commit` as the commits, merges and compare APIs return it."""
    return {
        "url": f"{rl.api}/commits/{info.sha}",
        "sha": info.sha,
        "node_id": node_id("Commit", info.sha),
        "html_url": f"{rl.web}/commit/{info.sha}",
        "comments_url": f"{rl.api}/commits/{info.sha}/comments",
        "commit": {
            "url": f"{rl.api}/git/commits/{info.sha}",
            "author": _git_user(info.author),
            "committer": _git_user(info.committer),
            "message": info.message,
            "tree": {"sha": info.tree, "url": f"{rl.api}/git/trees/{info.tree}"},
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "payload": None,
                "signature": None,
                "verified_at": None,
            },
        },
        "author": None,
        "committer": None,
        "parents": [
            {"sha": p, "url": f"{rl.api}/commits/{p}", "html_url": f"{rl.web}/commit/{p}"}
            for p in info.parents
        ],
    }


def diff_entry_json(rl: RepoLinks, head_sha: str, f: ChangedFile) -> Json:
    """One `diff-entry` of a comparison."""
    return {
        "sha": None if f.status == "removed" else f.sha,
        "filename": f.filename,
        "status": f.status,
        "additions": f.additions,
        "deletions": f.deletions,
        "changes": f.additions + f.deletions,
        "blob_url": f"{rl.web}/blob/{head_sha}/{f.filename}",
        "raw_url": f"{rl.web}/raw/{head_sha}/{f.filename}",
        "contents_url": f"{rl.api}/contents/{f.filename}?ref={head_sha}",
    }


def comparison_json(
    rl: RepoLinks,
    basehead: str,
    cmp: Comparison,
    commits: list[Json],
    base: CommitInfo,
    merge_base: CommitInfo,
    head_sha: str,
) -> Json:
    """A `commit-comparison` (commits already cut to the requested page)."""
    base_sha, short = base.sha, head_sha[:7]
    return {
        "url": f"{rl.api}/compare/{basehead}",
        "html_url": f"{rl.web}/compare/{basehead}",
        "permalink_url": f"{rl.web}/compare/{rl.owner}:{base_sha[:7]}...{rl.owner}:{short}",
        "diff_url": f"{rl.web}/compare/{basehead}.diff",
        "patch_url": f"{rl.web}/compare/{basehead}.patch",
        "base_commit": commit_json(rl, base),
        "merge_base_commit": commit_json(rl, merge_base),
        "status": cmp.status,
        "ahead_by": cmp.ahead_by,
        "behind_by": cmp.behind_by,
        "total_commits": cmp.ahead_by,
        "commits": commits,
        "files": [diff_entry_json(rl, head_sha, f) for f in cmp.files],
    }


def git_ref_json(rl: RepoLinks, ref: str, sha: str, object_type: str) -> Json:
    """A `git-ref`: the ref, and the commit or tag object it points at."""
    kind = "tags" if object_type == "tag" else "commits"
    return {
        "ref": ref,
        "node_id": node_id("Ref", f"{rl.full_name}:{ref}"),
        "url": f"{rl.api}/git/{ref}",
        "object": {"type": object_type, "sha": sha, "url": f"{rl.api}/git/{kind}/{sha}"},
    }


def git_tag_json(
    rl: RepoLinks, tag_sha: str, tag: str, message: str, target: str, who: Identity
) -> Json:
    """A `git-tag` object."""
    return {
        "sha": tag_sha,
        "node_id": node_id("Tag", tag_sha),
        "url": f"{rl.api}/git/tags/{tag_sha}",
        "tag": tag,
        "message": message,
        "tagger": _git_user(who),
        "object": {"type": "commit", "sha": target, "url": f"{rl.api}/git/commits/{target}"},
        "verification": {
            "verified": False,
            "reason": "unsigned",
            "payload": None,
            "signature": None,
            "verified_at": None,
        },
    }


def short_branch_json(rl: RepoLinks, name: str, sha: str) -> Json:
    """A `short-branch` as the branch list returns it."""
    return {
        "name": name,
        "commit": {"sha": sha, "url": f"{rl.api}/commits/{sha}"},
        "protected": False,
        "protection_url": f"{rl.api}/branches/{name}/protection",
    }


def branch_json(rl: RepoLinks, name: str, info: CommitInfo) -> Json:
    """A `branch-with-protection` (the sandbox protects nothing)."""
    return {
        "name": name,
        "commit": commit_json(rl, info),
        "_links": {"self": f"{rl.api}/branches/{name}", "html": f"{rl.web}/tree/{name}"},
        "protected": False,
        "protection": {
            "enabled": False,
            "required_status_checks": {
                "enforcement_level": "off",
                "contexts": [],
                "checks": [],
            },
        },
        "protection_url": f"{rl.api}/branches/{name}/protection",
    }

"""The links the peers hand out open readable, escaped pages without a token."""

from __future__ import annotations

import requests
from github import Auth, Github

from enigma.sandbox.server import SandboxServer


def test_pull_request_ticket_and_page_links_open(sandbox: SandboxServer) -> None:
    urls = sandbox.urls
    gh = Github(base_url=urls.github, auth=Auth.Token(urls.token), seconds_between_writes=None)
    repo = gh.get_repo("acme/web-app")
    repo.create_git_ref("refs/heads/release/9.9.9", repo.get_branch("develop").commit.sha)
    pr = repo.create_pull(
        base="main", head="release/9.9.9", title="<script>alert(1)</script>", body="x"
    )
    page = requests.get(pr.html_url, timeout=5)
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert requests.get(f"{urls.jira}/browse/ENG-101", timeout=5).status_code == 200
    notes = requests.get(f"{urls.confluence}/display/REL/Release+Notes", timeout=5)
    assert notes.status_code == 200 and "sandbox srcdoc" in notes.text
    assert requests.get(f"{urls.jira}/browse/ENG-999", timeout=5).status_code == 404

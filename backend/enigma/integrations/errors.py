"""Enigma's own error types for everything the integrations can raise.

The choke points in `http.py` map each client library's exceptions onto these, so nodes never
see a JIRAError, GithubException or requests exception. Two families matter to the workflow:
`TransientError` (worth retrying: timeouts, dropped connections, 5xx, 429) and
`PermanentError` (retrying will not help: 401, 403, 404, 409, 422, bad input).
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConflictError",
    "IntegrationError",
    "InvalidInput",
    "MergeConflict",
    "NotFound",
    "PermanentError",
    "TransientError",
    "Unprocessable",
]


class IntegrationError(Exception):
    """A call to Jira, GitHub, Confluence or git failed.

    Its text names the service, the operation when known (the choke point sets it) and what
    the service said: "jira release version: HTTP 404: Could not find version 9.9.9".
    """

    def __init__(self, service: str, message: str, status: int | None = None):
        super().__init__(message)
        self.service = service
        self.message = message
        self.status = status
        self.operation: str | None = None

    def __str__(self) -> str:
        where = f"{self.service} {self.operation}" if self.operation else self.service
        said = self.message
        if self.status and f"HTTP {self.status}" not in said:
            said = f"HTTP {self.status}: {said}" if said else f"HTTP {self.status}"
        return f"{where}: {said}"

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed."""
        return isinstance(self, TransientError)


class TransientError(IntegrationError):
    """Timeouts, dropped connections, 5xx and 429: retried, then surfaced."""

    def __init__(
        self,
        service: str,
        message: str,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(service, message, status)
        self.retry_after = retry_after


class PermanentError(IntegrationError):
    """Failures that retrying cannot fix."""


class AuthError(PermanentError):
    """401 or 403: the token is wrong or lacks a permission."""


class NotFound(PermanentError):
    """404: the repository, branch, ticket or page does not exist."""


class ConflictError(PermanentError):
    """409: the remote state does not allow the change."""


class Unprocessable(PermanentError):
    """422: the request was understood and refused."""


class InvalidInput(PermanentError):
    """Our own validation refused a value before it reached a service."""


class MergeConflict(ConflictError):
    """Merging `head` into `base` conflicts; a normal outcome the release manager decides."""

    def __init__(self, repo: str, base: str, head: str, files: list[str] | None = None):
        super().__init__("github", f"merging {head} into {base} in {repo} conflicts", 409)
        self.repo = repo
        self.base = base
        self.head = head
        self.files = files or []

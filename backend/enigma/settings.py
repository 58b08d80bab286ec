"""Settings, read once from `ENIGMA_*` environment variables by the outer layers.

With no Jira / GitHub / Confluence URL and token set, Enigma uses its sandbox. Tokens are
`SecretStr`: they print as `**********` and are only unwrapped where a client is built.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from enigma.integrations.endpoints import Endpoints

__all__ = ["ApiUser", "Settings", "default_data_dir", "in_checkout"]

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parents[1]
"""The checkout Enigma runs from (`<root>/backend/enigma`); see `in_checkout` for whether
there is one: an installed Enigma lives in site-packages and has none."""


def in_checkout() -> bool:
    """True when this package is the `backend/enigma` folder of a checkout (editable install
    included), False when it was installed from a wheel."""
    return PACKAGE_DIR.parent.name == "backend" and (REPO_ROOT / "pyproject.toml").is_file()


def default_data_dir() -> Path:
    """Where run-time files go unless ENIGMA_DATA_DIR says otherwise.

    In a checkout: `data/run`, git-ignored and outside every watched source folder, as
    always. Installed: the user's data directory (`~/.local/share/enigma` on Linux), since
    site-packages is no place for a database and the working directory changes from one
    command to the next.
    """
    if in_checkout():
        return REPO_ROOT / "data" / "run"
    import platformdirs  # only an installed Enigma needs it

    return Path(platformdirs.user_data_dir("enigma", appauthor=False))


class ApiUser(BaseModel):
    """Who an API token belongs to and what they may do."""

    user: str
    roles: list[str] = Field(default_factory=lambda: ["viewer"])


class Settings(BaseSettings):
    """Everything configurable, from `ENIGMA_*` variables."""

    model_config = SettingsConfigDict(env_prefix="ENIGMA_", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)

    jira_url: str | None = None
    jira_user: str | None = None
    jira_token: SecretStr | None = None
    jira_project: str = "ENG"

    github_url: str = "https://api.github.com"
    github_owner: str | None = None
    github_token: SecretStr | None = None

    confluence_url: str | None = None
    confluence_user: str | None = None
    confluence_token: SecretStr | None = None
    confluence_space: str = "REL"
    confluence_parent_title: str | None = "Release Notes"

    repositories: Annotated[list[str], NoDecode] = Field(default_factory=list)

    sandbox_host: str = "127.0.0.1"
    sandbox_port: int = 0
    sandbox_token: SecretStr | None = None
    sandbox_check_delay_seconds: float = 2.0

    http_timeout_seconds: float = 15.0
    http_max_tries: int = 3
    http_backoff_seconds: float = 0.5
    check_timeout_seconds: float | None = None
    check_poll_seconds: float = 1.0

    api_tokens: dict[str, ApiUser] = Field(default_factory=dict)
    api_tokens_file: Path | None = None
    four_eyes: bool = False
    max_concurrent_runs: int = 50
    io_threads: int = 0
    outage_budget_seconds: float = 1800.0
    step_timeout_seconds: float | None = None
    run_deadline_seconds: float | None = None
    retention_days: float = 90.0
    database_url: SecretStr | None = None
    database_schema: str | None = Field(None, pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    lease_seconds: float = 10.0
    claim_poll_seconds: float = 1.0
    global_max_concurrent_runs: int | None = None
    public_url: str | None = Field(None, pattern=r"^https?://[^\s]+$")
    """Where people reach this service; notifications link there (serve fills it in)."""
    notify_max_attempts: int = Field(10, ge=1)
    notify_backoff_seconds: float = Field(10.0, gt=0)
    notify_poll_seconds: float = Field(5.0, gt=0)
    metrics_token: SecretStr | None = None
    """Set: /metrics wants `Authorization: Bearer <it>` (or an API token); unset: open."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        """`info` and `INFO`, `JSON` and `json`: environment variables are typed by hand."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        return text.lower() if text.lower() in ("text", "json") else text.upper()

    @field_validator("repositories", mode="before")
    @classmethod
    def _split_repositories(cls, value: Any) -> Any:
        """`a,b` or `["a", "b"]` (NoDecode: pydantic-settings would JSON-decode it first)."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    raise ValueError(
                        'ENIGMA_REPOSITORIES: not a JSON list; write a,b or ["a", "b"]'
                    ) from None
            return [v.strip() for v in text.split(",") if v.strip()]
        return value

    @property
    def use_sandbox(self) -> bool:
        """True unless every service has a URL and a token."""
        return self.endpoints() is None

    def endpoints(self) -> Endpoints | None:
        """The real services, when all of them are configured (GitHub's pacing on)."""
        if not (self.jira_url and self.jira_token and self.github_token and self.github_owner):
            return None
        if not (self.confluence_url and self.confluence_token):
            return None
        return Endpoints(
            jira_url=self.jira_url,
            jira_user=self.jira_user,
            jira_token=self.jira_token,
            github_url=self.github_url,
            github_owner=self.github_owner,
            github_token=self.github_token,
            confluence_url=self.confluence_url,
            confluence_user=self.confluence_user,
            confluence_token=self.confluence_token,
        )

    def load_api_tokens(self) -> dict[str, ApiUser]:
        """Tokens from `ENIGMA_API_TOKENS` merged with those in `ENIGMA_API_TOKENS_FILE`."""
        tokens = dict(self.api_tokens)
        if self.api_tokens_file is not None and self.api_tokens_file.exists():
            raw = json.loads(self.api_tokens_file.read_text())
            tokens.update({k: ApiUser.model_validate(v) for k, v in raw.items()})
        return tokens

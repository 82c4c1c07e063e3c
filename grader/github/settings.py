"""How the bot talks to GitHub: who it is, where the API is, how patient it is.

Built once at start-up from explicit values (``GitHubSettings(...)``) or from an environment
mapping (``GitHubSettings.from_env(os.environ)``). Pure: the constructor reads nothing and
calls nothing; the adapter (grader.github.client) does the talking.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from grader.errors import InputError
from grader.findings import Finding, Location

# What a workflow step sees. GRADER_* names win over GitHub's own so a step can point the bot at
# another token (a GitHub App installation token) without shadowing GITHUB_TOKEN for other tools.
TOKEN_VARIABLES = ("GRADER_GITHUB_TOKEN", "GITHUB_TOKEN")
ACTIONS_BOT_LOGIN = "github-actions[bot]"

RepositoryName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]


class RetryPolicy(BaseModel):
    """When and how long to wait before asking GitHub again.

    5xx answers are retried with exponential backoff (``backoff_factor_s`` × 2^n, at most
    ``backoff_max_s``). Rate limits (403/429) wait as long as GitHub says: ``Retry-After``, or
    until ``x-ratelimit-reset`` for the primary limit, or ``secondary_rate_wait_s`` when a
    secondary limit names no time. A wait longer than ``max_wait_s`` is not waited: the call
    fails at once with the reason, so a job never sleeps away its time limit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    total: int = Field(default=6, ge=0, le=20)
    backoff_factor_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    secondary_rate_wait_s: float = Field(default=60.0, ge=0)
    max_wait_s: float = Field(default=300.0, ge=0)


class GitHubSettings(BaseModel):
    """Everything the adapter needs; validated, frozen, and free of side effects."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr = Field(description="GITHUB_TOKEN, an App installation token or a fine-grained PAT")
    repository: RepositoryName = Field(description="owner/name of the course repository")
    api_url: str = Field(default="https://api.github.com", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    server_url: str = Field(default="https://github.com", pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    bot_login: str = Field(
        default=ACTIONS_BOT_LOGIN,
        pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$",
        description="the login the bot's comments are posted as; only its comments are ever edited",
    )
    run_id: int | None = Field(default=None, description="GITHUB_RUN_ID, for links to the job summary")
    check_name: str = Field(default="grader", min_length=1, max_length=100)
    timeout_s: int = Field(default=30, ge=1, le=600)
    per_page: int = Field(default=100, ge=1, le=100)
    # PyGithub spaces requests; GitHub asks integrations to leave a second between writes to stay
    # clear of the secondary rate limit. Tests set both to 0.
    seconds_between_requests: float = Field(default=0.0, ge=0)
    seconds_between_writes: float = Field(default=1.0, ge=0)
    retry: RetryPolicy = RetryPolicy()

    @field_validator("api_url", "server_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def run_url(self) -> str | None:
        """The workflow run's page: its job summary holds the full report."""
        if self.run_id is None:
            return None
        return f"{self.server_url}/{self.repository}/actions/runs/{self.run_id}"

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: object) -> GitHubSettings:
        """Read the variables a workflow step has (GITHUB_TOKEN, GITHUB_REPOSITORY, ...).

        ``overrides`` win over the environment. Missing or malformed values are an InputError
        naming the variable, never a traceback.
        """
        values: dict[str, object] = {}
        token = next((env[name] for name in TOKEN_VARIABLES if env.get(name)), None)
        if token is not None:
            values["token"] = token
        for field, name in _ENV_FIELDS.items():
            if env.get(name):
                values[field] = env[name]
        retry = {field: env[name] for field, name in _ENV_RETRY_FIELDS.items() if env.get(name)}
        if retry:
            values["retry"] = retry
        values.update(overrides)
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            raise InputError([_finding(item) for item in error.errors(include_url=False)]) from None


_ENV_FIELDS = {
    "repository": "GITHUB_REPOSITORY",
    "api_url": "GITHUB_API_URL",
    "server_url": "GITHUB_SERVER_URL",
    "run_id": "GITHUB_RUN_ID",
    "bot_login": "GRADER_BOT_LOGIN",
    "check_name": "GRADER_CHECK_NAME",
    "timeout_s": "GRADER_GITHUB_TIMEOUT_S",
    "seconds_between_writes": "GRADER_GITHUB_WRITE_INTERVAL_S",
}
_ENV_RETRY_FIELDS = {
    "total": "GRADER_GITHUB_RETRIES",
    "backoff_factor_s": "GRADER_GITHUB_BACKOFF_S",
    "max_wait_s": "GRADER_GITHUB_MAX_WAIT_S",
}
_FIELD_VARIABLE = {
    "token": " or ".join(TOKEN_VARIABLES),
    **_ENV_FIELDS,
    **{f"retry.{k}": v for k, v in _ENV_RETRY_FIELDS.items()},
}


def _finding(item: Mapping[str, Any]) -> Finding:
    field = ".".join(str(part) for part in item["loc"])
    variable = _FIELD_VARIABLE.get(field, field)
    missing = item["type"] == "missing"
    return Finding(
        code="G001",
        location=Location(file="<environment>", field=variable),
        message=f"{variable} is not set" if missing else f"{variable}: {item['msg']}",
        expected=_EXPECTED.get(field, "a valid value"),
        found="" if missing or field == "token" else repr(item.get("input"))[:80],
        hint="in a workflow, pass it to the step through `env:`; locally, export it or use --repo/--token",
    )


_EXPECTED = {
    "token": "a GitHub token (the job's GITHUB_TOKEN or a GitHub App installation token)",
    "repository": "owner/name, e.g. aitalents/model-compression-2025",
    "api_url": "the REST API root, e.g. https://api.github.com",
    "bot_login": "a GitHub login, e.g. github-actions[bot] or my-grader-app[bot]",
}

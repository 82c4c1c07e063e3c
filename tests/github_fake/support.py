"""Helpers shared by the GitHub tests: a client pointed at the fake, grades, payloads."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.github.client import GitHubClient
from grader.github.settings import GitHubSettings, RetryPolicy
from grader.verify.models import Grade, Verdict

from .server import FakeGitHub
from .state import FakePull

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github"
REPO_ROOT = Path(__file__).resolve().parents[2]
HEAD = "1" * 40
BOT = "github-actions[bot]"
GRADER = [sys.executable, "-c", "from grader.cli import main; main()"]  # the `grader` entry point


def settings_for(fake: FakeGitHub, **overrides: Any) -> GitHubSettings:
    """Settings as a workflow step would have them, with tiny waits so tests stay fast."""
    retry = overrides.pop("retry", RetryPolicy(total=4, backoff_factor_s=0.0, secondary_rate_wait_s=0.01))
    values: dict[str, Any] = {
        "token": fake.token,
        "repository": fake.repo.full_name,
        "api_url": fake.url,
        "server_url": "https://github.example",
        "run_id": 4242,
        "seconds_between_writes": 0.0,
        "retry": retry,
        **overrides,
    }
    return GitHubSettings(**values)


def client_for(
    fake: FakeGitHub, *, sleep: Callable[[float], None] | None = None, **overrides: Any
) -> GitHubClient:
    settings = settings_for(fake, **overrides)
    return GitHubClient(settings, sleep=sleep) if sleep is not None else GitHubClient(settings)


def submission_pull(
    number: int = 7, *, title: str = "ml_masters HW-2", author: str = "alice", **kw: Any
) -> FakePull:
    """A PR shaped from GitHub's real `pull_request.opened` payload, adding one manifest."""
    template = copy.deepcopy(payload("pull_request.opened")["pull_request"])
    files = kw.pop("files", [{"filename": "submissions/ml_masters/hw-2/submission.yaml", "status": "added"}])
    return FakePull(
        number=number,
        title=title,
        author=author,
        head_sha=kw.pop("head_sha", HEAD),
        files=files,
        template=template,
        **kw,
    )


def payload(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.payload.json").read_text(encoding="utf-8"))


def grade(
    verdict: Verdict = Verdict.PASS, *, team: str | None = "ml_masters", homework: int | None = 2, **kw: Any
) -> Grade:
    return Grade(team=team, homework=homework, verdict=verdict, language=kw.pop("language", "en"), **kw)


def grader_env(fake: FakeGitHub, **extra: str) -> dict[str, str]:
    """The environment of a workflow step talking to the fake."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GRADER_"))}
    env.update(
        {
            "GITHUB_TOKEN": fake.token,
            "GITHUB_REPOSITORY": fake.repo.full_name,
            "GITHUB_API_URL": fake.url,
            "GITHUB_SERVER_URL": "https://github.example",
            "GITHUB_RUN_ID": "4242",
            "GRADER_GITHUB_RETRIES": "2",
            "GRADER_GITHUB_BACKOFF_S": "0",
            "GRADER_GITHUB_WRITE_INTERVAL_S": "0",
            "GRADER_GITHUB_MAX_WAIT_S": "5",
            "PYTHONPATH": str(REPO_ROOT),
        }
    )
    env.update(extra)
    return env


def run_grader(args: list[str], *, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GRADER, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def read_outputs(path: Path) -> dict[str, str]:
    """$GITHUB_OUTPUT as a later step would see it."""
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines() if "=" in line)

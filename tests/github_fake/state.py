"""The fake GitHub's state: one repository's PRs, comments, labels, check runs, git objects and
workflow runs, as plain data a test can seed and inspect."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def git_blob_sha(content: bytes) -> str:
    """The SHA git itself gives the file, so fixtures look like GitHub's."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class FakeFile:
    content: bytes
    mode: str = "100644"  # 100755 executable, 120000 symlink (content = target), 160000 submodule


@dataclass
class FakePull:
    number: int
    title: str
    author: str
    head_sha: str
    base_ref: str = "main"
    head_ref: str = "hw-2"
    head_repo: str | None = None
    state: str = "open"
    merged: bool = False
    labels: list[str] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    template: dict[str, Any] = field(default_factory=dict)  # a real payload's pull_request, reshaped
    commits: list[str] = field(default_factory=list)  # the PR's commits, oldest first ([] = just the head)


@dataclass
class FakeComment:
    id: int
    number: int
    author: str
    body: str
    created_at: datetime
    updated_at: datetime


@dataclass
class FakeCheckRun:
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    output: dict[str, Any]
    annotations: list[dict[str, Any]]
    updates: list[dict[str, Any]]  # every create/PATCH body, in order
    started_at: str | None = None
    completed_at: str | None = None


@dataclass
class FakeArtifact:
    id: int
    name: str
    size_in_bytes: int = 1024
    expired: bool = False
    archive: bytes = b""  # the zip that GET .../artifacts/<id>/zip redirects to


@dataclass
class FakeRun:
    id: int
    workflow: str  # file name, e.g. grade.yml
    head_sha: str  # the commit the workflow ran on (the base branch's, for pull_request_target)
    head_branch: str = "main"
    event: str = "pull_request_target"
    status: str = "completed"
    conclusion: str | None = "success"
    created_at: datetime = EPOCH
    artifacts: list[FakeArtifact] = field(default_factory=list)


@dataclass
class RepoState:
    full_name: str
    default_branch: str = "main"
    pulls: dict[int, FakePull] = field(default_factory=dict)
    comments: dict[int, FakeComment] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    check_runs: dict[int, FakeCheckRun] = field(default_factory=dict)
    commits: dict[str, dict[str, FakeFile]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    runs: dict[int, FakeRun] = field(default_factory=dict)


class Clock:
    """Timestamps that move forward one second per event, so order is deterministic."""

    def __init__(self) -> None:
        self._now = EPOCH

    def tick(self) -> datetime:
        self._now += timedelta(seconds=1)
        return self._now


class Ids:
    def __init__(self, start: int = 1000) -> None:
        self._next = start

    def take(self) -> int:
        self._next += 1
        return self._next

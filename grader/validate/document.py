"""The validate stage's output: the manifest as understood, its parsed claims, and every finding."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from grader.documents import Document
from grader.findings import Finding, has_errors
from grader.manifest.model import ModelEntry, Submission


class ParsedClaim(BaseModel):
    """One claim, read: `latency_cpu: 19.6 ms` → value 0.0196 (seconds per item)."""

    model_config = ConfigDict(frozen=True)

    metric: str  # "size", "latency_cpu", ..., "quality.accuracy"
    raw: str  # as the team wrote it
    value: float  # base unit: bytes, seconds, ratio, or the metric's own scale (fractions for %)
    unit: str  # canonical unit of what was written
    per: str = "item"  # time claims: per item, token or batch
    line: int | None = None


class ValidatedEntry(BaseModel):
    key: str  # "baseline" or "models[i]"
    entry: ModelEntry
    claims: list[ParsedClaim]
    artifact_dir: str | None = None  # for `path:` artifacts: the resolved path, relative to the repo root

    @property
    def is_baseline(self) -> bool:
        return self.key == "baseline"


class PullRequestContext(BaseModel):
    """Facts about the PR, always read from the GitHub API (never from an artifact)."""

    number: int
    head_sha: str
    author: str
    title: str
    base_ref: str | None = None
    changed_files: list[str] = []
    labels: list[str] = []
    # When the graded event happened (the push or the opening): deadlines are checked against it,
    # so a regrade after the deadline judges the push, not the regrade.
    event_time: datetime | None = None


class ValidatedSubmission(Document):
    KIND = "validated-submission"
    PRODUCER = "grader validate"

    manifest_path: str  # as given, relative to the repo root when inside it
    manifest_sha256: str = ""
    repo_root: str = "."
    course_sha256: str = ""
    submission: Submission | None = None  # None when the manifest could not be understood
    entries: list[ValidatedEntry] = []
    findings: list[Finding] = []
    pull_request: PullRequestContext | None = None

    @property
    def ok(self) -> bool:
        return self.submission is not None and not has_errors(self.findings)

"""The validate stage's output: the manifest as understood, its parsed claims, and every finding."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from grader.documents import Document
from grader.errors import InputError
from grader.findings import Finding, Location, has_errors
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


def read_pull_request_context(path: Path) -> PullRequestContext:
    """Load the PR facts `grader gh pr-context` wrote; any problem is a located InputError."""
    name = str(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return PullRequestContext.model_validate(data)
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            [_pr_problem(name, code="D001", message="cannot read the PR file", found=str(error))]
        ) from None
    except json.JSONDecodeError as error:
        finding = _pr_problem(name, code="D001", message=f"not valid JSON: {error.msg}", found="")
        location = finding.location.model_copy(update={"line": error.lineno, "column": error.colno})
        raise InputError([finding.model_copy(update={"location": location})]) from None
    except ValidationError as error:
        raise InputError(
            [
                _pr_problem(
                    name,
                    code="D004",
                    message=item["msg"],
                    found=repr(item.get("input"))[:120],
                    field=item["loc"],
                )
                for item in error.errors(include_url=False)
            ]
        ) from None


def _pr_problem(file: str, *, code: str, message: str, found: str, field: tuple = ()) -> Finding:
    return Finding(
        code=code,
        location=Location(file=file, field=".".join(str(p) for p in field) or None),
        message=message,
        expected="a PullRequestContext JSON: number, head_sha, author, title, changed_files, labels",
        found=found,
        hint="the GitHub integration writes this file from the API (`grader gh pr-context`)",
    )


# --- speed claims: what a team claims about speed, in the unit the grader compares ---------------


class ClaimedSpeedup(BaseModel):
    """A speed-up the team claims for one device: a `speedup_<device>` claim, or one implied by
    two time claims (baseline's / this model's) written in the same unit of work."""

    model_config = ConfigDict(frozen=True)

    value: float
    per_token: bool = False  # compared on time per output token (causal-lm generation)
    metric: str  # the claim it comes from: "speedup_cpu" or "latency_cpu"


def claim_seconds(claim: ParsedClaim, batch_size: int) -> float:
    """A time claim as seconds per item, or per token: a claim per batch is per call at the
    course's batch size (the validator allows it only then)."""
    return claim.value / batch_size if claim.per == "batch" else claim.value


def claimed_speedups(
    entry: ValidatedEntry, baseline: ValidatedEntry | None, device: str, batch_size: int
) -> list[ClaimedSpeedup]:
    """Every speed-up ``entry`` claims on ``device`` (``cpu`` or ``cuda``) against ``baseline``."""
    suffix = "cpu" if device == "cpu" else "gpu"
    claims = {c.metric: c for c in entry.claims}
    out = []
    ratio = claims.get(f"speedup_{suffix}")
    if ratio is not None and ratio.value > 0:
        out.append(ClaimedSpeedup(value=ratio.value, metric=ratio.metric))
    own = claims.get(f"latency_{suffix}")
    base = next((c for c in baseline.claims if c.metric == f"latency_{suffix}"), None) if baseline else None
    same_unit = own is not None and base is not None and (own.per == "token") == (base.per == "token")
    if own is not None and base is not None and same_unit and own.value > 0:
        value = claim_seconds(base, batch_size) / claim_seconds(own, batch_size)
        out.append(ClaimedSpeedup(value=value, per_token=own.per == "token", metric=own.metric))
    return out

"""Verified records: `leaderboard/results/hw-<n>/<team>.json`, one per team and homework.

A record is the part of a merged PR's Grade that the leaderboard may show: only what the grader
measured (figures, ratios, score, verdict), never the team's claims. `collect` files the record
of a grade; a record from a newer submission replaces an older one, and an older one never
replaces a newer one:
- records of two different PRs: the higher PR number is the newer submission;
- otherwise (the same PR re-graded, or records made without a PR): the later `graded_at` wins;
- the same grade collected twice writes the same bytes (nothing changes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from grader.course.model import Scoring
from grader.documents import Document
from grader.errors import InputError
from grader.findings import Finding, Location
from grader.verify.models import Grade, Measured, Note, QualityMetricInfo, Ratios, Verdict

RECORD_SCHEMA_VERSION = 1
_TEAM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")  # as in the manifest: also keeps paths inside results/


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordEntry(Model):
    key: str
    name: str
    methods: list[str]
    details: str | None = None
    format: str
    transform: str | None = None
    is_baseline: bool
    measured: Measured
    ratios: Ratios = Ratios()
    score: float | None = None
    score_reason: Note | None = None
    pareto_rank: int | None = None
    verdict: Verdict


class RecordSource(Model):
    """Where the record came from: the merged PR (numbers from the GitHub API) and the grader."""

    pr_number: int | None = None
    head_sha: str | None = None
    manifest_sha256: str | None = None
    graded_at: str | None = None
    grader_version: str | None = None
    cpu_model: str | None = None
    gpus: list[str] = []


class LeaderboardRecord(Document):
    KIND = "leaderboard-record"
    VERSION = RECORD_SCHEMA_VERSION
    PRODUCER = "grader collect"

    team: str
    homework: int
    homework_title: dict[str, str] = {}
    task: str | None = None
    dataset: str | None = None
    verdict: Verdict
    scoring: Scoring | None = None
    quality_metrics: dict[str, QualityMetricInfo] = {}
    source: RecordSource
    entries: list[RecordEntry]


class NotCollectableError(Exception):
    """The grade has nothing verified to show (it did not validate, or names no team/homework)."""


@dataclass(frozen=True)
class Provenance:
    """Who a grade must belong to, as the GitHub API says (the leaderboard's find job): a grade is
    an artifact, and any job of a run can upload one; these facts never come from an artifact."""

    pr: int
    head_sha: str
    team: str
    homework: int


def provenance_findings(grade: Grade, expected: Provenance, file: str) -> list[Finding]:
    """One finding per fact where ``grade`` disagrees with the API; [] when it belongs to the PR."""
    pull = grade.pull_request
    facts = [
        ("pull_request.number", str(expected.pr), str(pull.number) if pull else "none"),
        ("pull_request.head_sha", expected.head_sha, pull.head_sha if pull else "none"),
        ("team", expected.team, str(grade.team)),
        ("homework", str(expected.homework), str(grade.homework)),
    ]
    return [
        Finding(
            code="L004",
            location=Location(file=file, field=name),
            message=f"the grade does not belong to PR #{expected.pr}: its {name} is not the API's",
            expected=f"{want} (from the GitHub API)",
            found=have,
            hint="nothing was collected; the grade artifact was made for another PR, commit or team "
            "(or altered): grade the merged commit again with /regrade",
        )
        for name, want, have in facts
        if want != have
    ]


def record_from_grade(grade: Grade) -> LeaderboardRecord:
    if grade.verdict is Verdict.INVALID or not grade.entries:
        raise NotCollectableError(
            "the submission did not validate, so nothing was measured: no record is written"
        )
    if grade.team is None or grade.homework is None:
        raise NotCollectableError("the grade names no team or homework: no record is written")
    if not _TEAM.match(grade.team):
        raise NotCollectableError(f"{grade.team!r} is not a team name (letters, digits, `_` and `-`)")
    env = grade.environment
    return LeaderboardRecord(
        team=grade.team,
        homework=grade.homework,
        homework_title=grade.homework_title,
        task=grade.task,
        dataset=grade.dataset,
        verdict=grade.verdict,
        scoring=grade.scoring,
        quality_metrics=grade.quality_metrics,
        source=RecordSource(
            pr_number=grade.pull_request.number if grade.pull_request else None,
            head_sha=grade.pull_request.head_sha if grade.pull_request else None,
            manifest_sha256=grade.manifest_sha256,
            graded_at=grade.graded_at,
            grader_version=grade.grader_version,
            cpu_model=env.cpu_model if env else None,
            gpus=[g.name for g in env.gpus] if env else [],
        ),
        entries=[
            RecordEntry(
                key=e.key,
                name=e.name,
                methods=e.methods,
                details=e.details,
                format=e.format,
                transform=e.transform,
                is_baseline=e.is_baseline,
                measured=e.measured,
                ratios=e.ratios,
                score=e.score,
                score_reason=e.score_reason,
                pareto_rank=e.pareto_rank,
                verdict=e.verdict,
            )
            for e in grade.entries
        ],
    )


def record_path(results_dir: Path, team: str, homework: int) -> Path:
    return results_dir / f"hw-{homework}" / f"{team}.json"


def _moment(stamp: str | None) -> datetime:
    if not stamp:
        return datetime.min.replace(tzinfo=UTC)
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def is_newer(new: LeaderboardRecord, old: LeaderboardRecord) -> bool:
    """Whether ``new`` may replace ``old`` (see the module docstring); equal counts as newer."""
    a, b = new.source.pr_number, old.source.pr_number
    if a is not None and b is not None and a != b:
        return a > b
    return _moment(new.source.graded_at) >= _moment(old.source.graded_at)


@dataclass(frozen=True)
class Collected:
    path: Path
    action: str  # "created", "replaced", "unchanged", "kept-newer"
    kept: LeaderboardRecord | None = None  # the newer record that stayed


def collect_record(grade: Grade, results_dir: Path) -> Collected:
    """File the grade's record, unless a newer record of that team and homework is there."""
    record = record_from_grade(grade)
    path = record_path(results_dir, record.team, record.homework)
    if path.exists():
        old = LeaderboardRecord.read(path)
        if not is_newer(record, old):
            return Collected(path, "kept-newer", old)
        if path.read_text(encoding="utf-8") == record.to_json():
            return Collected(path, "unchanged")
        record.write(path)
        return Collected(path, "replaced")
    record.write(path)
    return Collected(path, "created")


def collect(grade: Grade, results_dir: Path) -> Path:
    """The path of the team's record for the grade's homework, after filing the grade's record
    (or leaving a newer one in place). Raises NotCollectableError for a grade with nothing verified."""
    return collect_record(grade, results_dir).path


def load_records(results_dir: Path) -> list[LeaderboardRecord]:
    """Every record under ``results_dir``, ordered by homework and team; every problem at once."""
    records: list[LeaderboardRecord] = []
    findings: list[Finding] = []
    if not results_dir.is_dir():
        return []
    for path in sorted(results_dir.glob("hw-*/*.json")):
        try:
            record = LeaderboardRecord.read(path)
        except InputError as error:
            findings += error.findings
            continue
        expected = record_path(results_dir, record.team, record.homework)
        if path.resolve() != expected.resolve():
            findings.append(
                Finding(
                    code="L002",
                    location=Location(file=str(path), field="team"),
                    message=f"this record is for {record.team} HW-{record.homework}, "
                    "but it is filed elsewhere",
                    expected=str(expected),
                    found=str(path),
                    hint="records are written by `grader collect`; move it back or collect the grade again",
                )
            )
            continue
        records.append(record)
    if findings:
        raise InputError(findings)
    return sorted(records, key=lambda r: (r.homework, r.team))

"""Verified records: `leaderboard/results/hw-<n>/<team>.json`, one per team and homework, and
every attempt that was collected: `leaderboard/results/hw-<n>/history/<team>/<when>-pr<N>-<sha>.json`.

A record is the part of a merged PR's Grade that the leaderboard may show: only what the grader
measured (figures, ratios, score, verdict), never the team's claims. `collect` files the record
of a grade; a record from a newer submission replaces an older one, and an older one never
replaces a newer one:
- records of two different PRs: the higher PR number is the newer submission;
- otherwise (the same PR re-graded, or records made without a PR): the later `graded_at` wins;
- the same grade collected twice writes the same bytes (nothing changes).

Every collected grade is also kept as an attempt (`AttemptRecord`: the record plus what happened
when it was collected, and why), whether it became the current record or not, so an instructor
sees how a team's numbers moved (`grader history TEAM`). The leaderboard reads only the current
records (`hw-*/*.json`); history lives one folder deeper and never reaches it.

At merge, every graded attempt of the PR is collected (`collect_attempts`, fed by `grader gh
collect-history`: each push's grade and each regrade's, verified against the API): the newest one
of the merged commit is filed like `collect_record` files a grade; every earlier one goes to the
history only, saying which attempt took its place and why (a newer push, or the same commit graded
again). A submission that did not validate is kept in the history too (no entries, never filed).
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
    # When the graded push happened (from the API): deadlines are judged on it, not on a regrade.
    event_time: str | None = None
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
    return attempt_from_grade(grade)


def attempt_from_grade(grade: Grade) -> LeaderboardRecord:
    """The record of any graded attempt, for the history: like `record_from_grade`, but a
    submission that did not validate is kept too (its verdict, no entries)."""
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
            event_time=_event_time(grade),
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


def _event_time(grade: Grade) -> str | None:
    pull = grade.pull_request
    if pull is None or pull.event_time is None:
        return None
    moment = pull.event_time if pull.event_time.tzinfo else pull.event_time.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- attempts: every collected grade, kept --------------------------------------------------------


class RecordRef(Model):
    """Which record another one replaced (or lost to): enough to find it in the history."""

    pr_number: int | None = None
    head_sha: str | None = None
    graded_at: str | None = None


class Collection(Model):
    """What happened when the attempt was collected, and why (the `is_newer` rule, spelled out).

    An earlier attempt of a PR collected at merge (`collect_attempts`) is `superseded`: `other` is
    the attempt that took its place, `reason` says how (`new-push`: a newer commit of the PR was
    graded; `regraded`: the same commit was graded again). `not-filed`: the attempt is only in the
    history (`invalid`: the submission did not validate; `not-merged`: not the merged commit's)."""

    action: str  # created, replaced, unchanged, kept-newer, superseded, not-filed
    reason: str  # first, newer-pr, regraded, later, same, older-pr, earlier, new-push, invalid, not-merged
    other: RecordRef | None = None  # the record it replaced, or the newer one that stayed


class AttemptOrigin(Model):
    """Which grader run graded the attempt and why it ran, as the GitHub API says (`grader gh
    collect-history`); None for a grade collected from a file."""

    trigger: str  # push (opened or pushed to), regrade (/regrade or a dispatch), merge (graded at merge)
    run_id: int
    run_url: str | None = None
    artifact: str  # grade-pr<N>-<head SHA>


class AttemptRecord(LeaderboardRecord):
    KIND = "leaderboard-attempt"
    PRODUCER = "grader collect"

    collection: Collection
    origin: AttemptOrigin | None = None


@dataclass(frozen=True)
class Collected:
    path: Path
    action: (
        str  # "created", "replaced", "unchanged", "kept-newer" (and for attempts: "superseded", "not-filed")
    )
    kept: LeaderboardRecord | None = None  # the newer record that stayed
    attempt: Path | None = None  # the attempt in the history (None: this very grade was there)


def _ref(record: LeaderboardRecord) -> RecordRef:
    s = record.source
    return RecordRef(pr_number=s.pr_number, head_sha=s.head_sha, graded_at=s.graded_at)


def replacement_reason(new: LeaderboardRecord, old: LeaderboardRecord) -> str:
    """Why ``new`` replaces ``old`` or not, as one word (see `is_newer`)."""
    a, b = new.source.pr_number, old.source.pr_number
    if a is not None and b is not None and a != b:
        return "newer-pr" if a > b else "older-pr"
    if new.to_json() == old.to_json():
        return "same"
    later = _moment(new.source.graded_at) >= _moment(old.source.graded_at)
    if a is not None and a == b:
        return "regraded" if later else "earlier"
    return "later" if later else "earlier"


def attempt_path(results_dir: Path, record: LeaderboardRecord) -> Path:
    """`hw-<n>/history/<team>/<graded-at>-pr<N>-<sha7>-<digest8>.json`: sorted by name is sorted by
    time, and the digest of the record tells two gradings of the same second apart (and makes the
    same grade collected twice the same file)."""
    import hashlib

    s = record.source
    when = _moment(s.graded_at).strftime("%Y%m%dT%H%M%SZ") if s.graded_at else "undated"
    pr = f"pr{s.pr_number}" if s.pr_number is not None else "local"
    sha = (s.head_sha or "nosha")[:7]
    digest = hashlib.sha256(record.to_json().encode("utf-8")).hexdigest()[:8]
    folder = results_dir / f"hw-{record.homework}" / "history" / record.team
    return folder / f"{when}-{pr}-{sha}-{digest}.json"


def _keep_attempt(
    results_dir: Path, record: LeaderboardRecord, collection: Collection, origin: AttemptOrigin | None = None
) -> Path | None:
    path = attempt_path(results_dir, record)
    if path.exists():  # this grade was collected before: its first collection is what happened
        return None
    fields = record.model_dump(exclude={"kind", "schema_version"})
    AttemptRecord(**fields, collection=collection, origin=origin).write(path)
    return path


def collect_record(grade: Grade, results_dir: Path, origin: AttemptOrigin | None = None) -> Collected:
    """File the grade's record, unless a newer record of that team and homework is there; keep the
    attempt in the history either way."""
    return _file(record_from_grade(grade), results_dir, origin)


def _file(record: LeaderboardRecord, results_dir: Path, origin: AttemptOrigin | None) -> Collected:
    path = record_path(results_dir, record.team, record.homework)
    if not path.exists():
        attempt = _keep_attempt(results_dir, record, Collection(action="created", reason="first"), origin)
        record.write(path)
        return Collected(path, "created", attempt=attempt)
    old = LeaderboardRecord.read(path)
    reason = replacement_reason(record, old)
    if not is_newer(record, old):
        attempt = _keep_attempt(
            results_dir, record, Collection(action="kept-newer", reason=reason, other=_ref(old)), origin
        )
        return Collected(path, "kept-newer", old, attempt=attempt)
    if path.read_text(encoding="utf-8") == record.to_json():
        attempt = _keep_attempt(results_dir, record, Collection(action="unchanged", reason="same"), origin)
        return Collected(path, "unchanged", attempt=attempt)
    # The attempt first: a job killed between the two writes leaves the history complete and the
    # current record old, which collecting the grade again repairs.
    attempt = _keep_attempt(
        results_dir, record, Collection(action="replaced", reason=reason, other=_ref(old)), origin
    )
    record.write(path)
    return Collected(path, "replaced", attempt=attempt)


@dataclass(frozen=True)
class GradedAttempt:
    """One graded attempt of a PR whose grade was checked against the API, and where it came from."""

    grade: Grade
    origin: AttemptOrigin | None = None


def collect_attempts(attempts: list[GradedAttempt], results_dir: Path, head_sha: str) -> list[Collected]:
    """File every graded attempt of one merged PR (see the module docstring), oldest first.

    ``head_sha`` is the merged commit (from the API): only its newest attempt may become the current
    record, so a grade of a commit that was never merged never reaches the leaderboard. Collecting
    the same attempts again writes nothing (an attempt's file is named for its content). Raises
    NotCollectableError for a grade that names no team or homework."""
    made = sorted(
        ((attempt_from_grade(a.grade), a.origin) for a in attempts),
        key=lambda pair: (_moment(pair[0].source.graded_at), pair[1].run_id if pair[1] else 0),
    )
    # The same grade downloaded twice (two artifacts of one run) is one attempt.
    unique = list({attempt_path(results_dir, record): (record, origin) for record, origin in made}.values())
    at_head = [i for i, (record, _) in enumerate(unique) if record.source.head_sha == head_sha]
    newest = at_head[-1] if at_head else None
    outcomes: list[Collected] = []
    for index, (record, origin) in enumerate(unique):
        invalid = not record.entries or record.verdict is Verdict.INVALID
        later = unique[index + 1][0] if index + 1 < len(unique) else None
        if index == newest and not invalid:
            outcomes.append(_file(record, results_dir, origin))
            continue
        if index == newest or later is None:
            collection = Collection(action="not-filed", reason="invalid" if invalid else "not-merged")
        else:
            how = "regraded" if later.source.head_sha == record.source.head_sha else "new-push"
            collection = Collection(action="superseded", reason=how, other=_ref(later))
        attempt = _keep_attempt(results_dir, record, collection, origin)
        path = record_path(results_dir, record.team, record.homework)
        outcomes.append(Collected(path, collection.action, attempt=attempt))
    return outcomes


def collect(grade: Grade, results_dir: Path) -> Path:
    """The path of the team's record for the grade's homework, after filing the grade's record
    (or leaving a newer one in place). Raises NotCollectableError for a grade with nothing verified."""
    return collect_record(grade, results_dir).path


def load_attempts(results_dir: Path, team: str | None = None) -> list[AttemptRecord]:
    """Every attempt in the history (of ``team``), by homework, then oldest first. A current record
    without history (collected before attempts were kept) counts as its own, only, attempt."""
    attempts: list[AttemptRecord] = []
    findings: list[Finding] = []
    if not results_dir.is_dir():
        return []
    pattern = f"hw-*/history/{team}/*.json" if team else "hw-*/history/*/*.json"
    for path in sorted(results_dir.glob(pattern)):
        try:
            attempts.append(AttemptRecord.read(path))
        except InputError as error:
            findings += error.findings
    if findings:
        raise InputError(findings)
    seen = {(a.team, a.homework) for a in attempts}
    for record in load_records(results_dir):
        if (record.team, record.homework) not in seen and team in (None, record.team):
            legacy = Collection(action="created", reason="first")
            fields = record.model_dump(exclude={"kind", "schema_version"})
            attempts.append(AttemptRecord(**fields, collection=legacy))
    return sorted(attempts, key=lambda a: (a.homework, a.team, _moment(a.source.graded_at)))


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

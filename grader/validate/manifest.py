"""validate_manifest: every check on one submission manifest, every finding collected.

YAML → schema → course rules → location → claims → artifacts → (with a PR) PR rules. A check
never stops the others: each reads the parts of the manifest that are valid on their own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader.course.model import Course, Homework
from grader.findings import Finding, Location, sort_findings
from grader.schema_errors import dedupe
from grader.task_catalog import TaskDeclaration
from grader.units import MIB
from grader.validate import rules
from grader.validate.artifacts import ArtifactChecker
from grader.validate.claims import ClaimRules, read_claims
from grader.validate.document import PullRequestContext, ValidatedEntry, ValidatedSubmission
from grader.validate.input_roles import mapping_findings as input_mapping_findings
from grader.validate.pr_rules import check_pull_request, code_formats_allowed, manifest_paths_in
from grader.validate.read import ManifestRead, read_manifest
from grader.validate.side_files import entry_side_files
from grader.yamlio import LoadedYaml, PositionMap, load_yaml_file


@dataclass(frozen=True)
class _Identity:
    """Team and homework read from a manifest that does not validate as a whole."""

    team: str
    homework: int


def validate_manifest(
    manifest_path: Path,
    course: Course,
    repo_root: Path,
    *,
    pr: PullRequestContext | None = None,
    now: datetime | None = None,
    allow_code_formats: bool = False,
) -> ValidatedSubmission:
    """Check the manifest against the schema, the course, its place, its claims and artifacts, and
    the PR (when given). Never raises on bad input: every problem is a finding in the result.

    ``now``: the time of the PR event the deadline is checked against (default: the PR's
    ``event_time``, else the current time). ``allow_code_formats``: an instructor allowed formats
    that carry code (TorchScript); a PR with the `allow-torchscript` label allows them too.
    """
    place = rules.ManifestPlace.of(manifest_path, repo_root)
    link = place.link
    # A linked manifest could make the grader quote another file's lines in a public comment.
    loaded = _refused_link(place, link) if link else load_yaml_file(manifest_path, place.display)
    findings = list(loaded.findings)
    read: ManifestRead | None = None
    entries: list[ValidatedEntry] = []
    too_many = _too_many_models(loaded, course)
    if loaded.data is None and not findings:
        findings.append(_empty(place.display))
    elif too_many is not None:
        findings.append(too_many)  # refused before any per-model check runs
    elif loaded.data is not None:
        read = read_manifest(loaded.data, loaded.positions)
        allowed = code_formats_allowed(pr, flag=allow_code_formats)
        checked, entries = _check_manifest(read, course, place, loaded.positions, allow_code_formats=allowed)
        findings += read.findings + checked
    if pr is not None:
        findings += check_pull_request(
            pr,
            course,
            (read.submission or _identity(read)) if read else None,
            manifest_paths_in(pr.changed_files),
            now or pr.event_time or datetime.now(UTC),
            manifest_file=place.display,
            positions=loaded.positions,
        )
    submission = read.submission if read else None
    return ValidatedSubmission(
        manifest_path=place.display,
        manifest_sha256="" if link else _sha256(manifest_path),
        repo_root=str(repo_root),
        submission=submission,
        entries=entries if submission is not None else [],
        findings=sort_findings(dedupe(findings)),
        pull_request=pr,
    )


def _check_manifest(
    read: ManifestRead,
    course: Course,
    place: rules.ManifestPlace,
    positions: PositionMap,
    *,
    allow_code_formats: bool,
) -> tuple[list[Finding], list[ValidatedEntry]]:
    top = read.top
    homework, findings = rules.find_homework(top, course, positions)
    findings += rules.check_team(top, course, positions)
    findings += rules.check_task(top, course, positions)
    findings += rules.check_eval(top, course, positions)
    findings += rules.check_params(top, course, positions)
    findings += rules.check_baseline_present(top, homework, positions)
    findings += rules.check_methods(read.entries, homework, positions)
    findings += rules.check_unique_names(read.entries, positions)
    findings += rules.check_code_formats(read.entries, positions, allowed=allow_code_formats)
    findings += rules.check_measurable_formats(read.entries, positions)
    findings += rules.check_location(place, top, course, positions)

    claim_rules = _claim_rules(read, course, homework)
    graded_task = top.get("task") if top.get("task") in course.tasks else None  # else M004 says it
    task = read.top.get("task")
    checker = ArtifactChecker(
        place,
        positions,
        max_bytes=course.runner.limits.artifact_max_mib * int(MIB),
        task=task if task in course.tasks else None,
    )
    entries = []
    for entry in read.entries:
        claims = read_claims(
            entry.part.raw_value("claims"),
            entry.part.path_of("claims"),
            positions,
            claim_rules,
            is_baseline=entry.is_baseline,
        )
        artifact_dir, artifact_findings = checker.check(entry)
        findings += claims.findings + artifact_findings
        findings += input_mapping_findings(entry, graded_task, positions)
        if not any(f.is_error for f in artifact_findings):  # a refused model needs no side files
            findings += entry_side_files(entry, artifact_dir, place, positions, graded_task)
        model = entry.model
        if model is not None:
            entries.append(
                ValidatedEntry(key=entry.key, entry=model, claims=claims.claims, artifact_dir=artifact_dir)
            )
    return findings, entries


def _claim_rules(read: ManifestRead, course: Course, homework: Homework | None) -> ClaimRules:
    task = read.top.get("task")
    cls = rules.task_class(task) if task in course.tasks else None
    return ClaimRules(
        task=task,
        metrics=cls.metrics if cls else None,
        primary=cls.primary if cls else None,
        batch_size=course.runner.batch_size,
        required=tuple(homework.required) if homework else (),
        has_baseline=any(e.is_baseline for e in read.entries),
        unset=_unset_metric_params(cls, course.tasks[task].params, read.top.get("params")) if cls else {},
    )


def _unset_metric_params(
    cls: type[TaskDeclaration], course_params: Mapping[str, Any], manifest_params: Any
) -> dict[str, str]:
    """The task's metrics that need a param (`metric_params`) this grading leaves empty: the
    course's params, then the manifest's (a manifest's own `params:` are checked by M006)."""
    params: dict[str, Any] = {
        **cls.default_params,
        **course_params,
        **(manifest_params if isinstance(manifest_params, dict) else {}),
    }
    return {metric: param for metric, param in cls.metric_params.items() if not params.get(param)}


def _refused_link(place: rules.ManifestPlace, link: Path) -> LoadedYaml:
    finding = Finding(
        code="Y003",
        location=Location(file=place.display),
        message="the manifest is reached through a symbolic link; the grader does not follow links",
        expected="submission.yaml as a regular file in the team's folder",
        found=f"{place.to_repo(link)} is a link",
        hint="commit the file itself, not a link to it",
    )
    return LoadedYaml(data=None, positions=PositionMap(file=place.display), findings=[finding])


def _too_many_models(loaded: LoadedYaml, course: Course) -> Finding | None:
    """More models than the course's cap: each one costs every phase on the GPU runner."""
    cap = course.runner.limits.max_models
    models = loaded.data.get("models") if isinstance(loaded.data, dict) else None
    if not isinstance(models, list) or len(models) <= cap:
        return None
    return Finding(
        code="M016",
        location=loaded.positions.location(("models", cap)),
        message=f"the manifest names {len(models):,} models, more than the course grades in one submission",
        expected=f"at most {cap} models (course.yaml: runner.limits.max_models)",
        found=f"{len(models):,} entries under `models:`",
        hint="submit the models the homework asks about; split other experiments into later PRs",
    )


def _identity(read: ManifestRead) -> _Identity | None:
    team, homework = read.top.get("team"), read.top.get("homework")
    return _Identity(team, homework) if team is not None and homework is not None else None


def _empty(file: str) -> Finding:
    return Finding(
        code="Y003",
        location=Location(file=file),
        message="the manifest is empty",
        expected="a submission manifest (see submissions/README.md)",
        hint="start from an example in submissions/_examples/",
    )


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""

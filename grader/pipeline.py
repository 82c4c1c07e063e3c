"""The local all-stages pipeline: validate → measure → verify → report, in one process.

`grade_manifest` runs the same stage functions the workflows run one job at a time, and writes
each stage's document into the output folder, so any stage can be re-run alone from the CLI on
the file the previous one wrote::

    validated.json    grader validate MANIFEST --out validated.json
    measurement.json  grader measure validated.json --out measurement.json
    grade.json        grader verify measurement.json --out grade.json
    comment.md        grader report grade.json            (the PR comment)
    summary.md        grader report grade.json --kind summary
    private/          grader verify ... --private-out private  (only when there are private figures:
                      the instructors' grade and summary, grader.report.private)

A manifest that does not validate stops after validate: its grade is `invalid`, it keeps every
finding, and its comment lists them; no measurement.json is written (a stale one from an earlier
run is removed, so nobody re-verifies old figures by mistake).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from grader.course.model import Course
from grader.exitcodes import ExitCode

if TYPE_CHECKING:
    from grader.harness.measure import ProgressEvent
    from grader.harness.runner import Runner
    from grader.validate.document import PullRequestContext
    from grader.verify.models import Grade

VALIDATED = "validated.json"
MEASUREMENT = "measurement.json"
GRADE = "grade.json"
COMMENT = "comment.md"
SUMMARY = "summary.md"
PRIVATE = "private"  # folder: instructor-only outputs


@dataclass(frozen=True)
class StageEvent:
    """Progress of the pipeline: a stage started or finished, or a step inside `measure`."""

    stage: str  # validate, measure, verify, report (measure also reports its own sub-stages)
    message: str
    done: int | None = None  # measure steps done so far
    total: int | None = None  # measure steps known so far (it grows when a re-measure is needed)


PipelineProgress = Callable[[StageEvent], None]


@dataclass
class GradeOutcome:
    grade: Grade
    out_dir: Path
    files: dict[str, Path] = field(default_factory=dict)  # "validated", "measurement", "grade", ...
    comment: str = ""
    summary: str = ""

    @property
    def verdict(self) -> str:
        return self.grade.verdict.value

    @property
    def exit_code(self) -> ExitCode:
        """0 pass, 2 the manifest did not validate, 1 anything else (a claim off, a failure, noise)."""
        if self.verdict == "pass":
            return ExitCode.OK
        if self.verdict == "invalid":
            return ExitCode.BAD_INPUT
        return ExitCode.CHECKS_FAILED


def grade_manifest(
    manifest: Path,
    course: Course,
    repo_root: Path,
    out_dir: Path,
    *,
    pr: PullRequestContext | None = None,
    progress: PipelineProgress | None = None,
    language: str | None = None,
    course_file: Path | None = None,
    templates: Path | None = None,
    devices: list[str] | None = None,
    now: datetime | None = None,
    allow_code_formats: bool = False,
    runner: Runner | None = None,
) -> GradeOutcome:
    """Grade one manifest end to end (see the module docstring) and write every stage's document.

    ``language`` picks the comment's language (default: the course's). ``course_file`` is the
    course.yaml that ``course`` was read from; its digest goes into validated.json as
    `grader validate` records it. ``templates`` defaults to the repository's `templates/`, else
    the grader's own. ``devices`` restricts the course's devices. ``allow_code_formats``: an
    instructor allows TorchScript (as `--allow-code-formats` does for validate and measure; the
    PR's `allow-torchscript` label does the same). ``runner``: an open measurement-child Runner
    made with this course's thread environment, to grade several manifests with the same warm
    zygotes (grader.harness.measure.measure_submission); by default each grading starts its own.
    """
    from grader.report import render_comment, render_summary
    from grader.report.templates import find_templates
    from grader.validate.manifest import validate_manifest
    from grader.validate.pr_rules import code_formats_allowed
    from grader.verify import grade_invalid, verify

    notify = progress or _ignore
    out_dir.mkdir(parents=True, exist_ok=True)
    outcome_files: dict[str, Path] = {}

    notify(StageEvent("validate", f"validating {manifest}"))
    validated = validate_manifest(
        manifest, course, repo_root, pr=pr, now=now, allow_code_formats=allow_code_formats
    )
    if course_file is not None:
        validated.course_sha256 = hashlib.sha256(course_file.read_bytes()).hexdigest()
    outcome_files["validated"] = validated.write(out_dir / VALIDATED)

    if validated.ok:
        from grader.harness.measure import measure_submission

        notify(StageEvent("measure", "measuring every model in fresh processes"))
        run = measure_submission(
            validated,
            course,
            repo_root,
            devices=devices,
            progress=_forward_measure(notify),
            allow_code_formats=code_formats_allowed(pr, flag=allow_code_formats),
            runner=runner,
        )
        outcome_files["measurement"] = run.write(out_dir / MEASUREMENT)
        notify(StageEvent("verify", "checking the claims against the measured figures"))
        grade = verify(run, course, now=now)
    else:
        (out_dir / MEASUREMENT).unlink(missing_ok=True)  # from an earlier run: not of this manifest
        notify(StageEvent("verify", "the manifest did not validate: grading it invalid"))
        grade = grade_invalid(validated, course, now=now)
    outcome_files["grade"] = grade.write(out_dir / GRADE)

    notify(StageEvent("report", "writing the PR comment and the job summary"))
    folder = templates or find_templates(start=repo_root)
    comment = render_comment(grade, language, templates=folder)
    summary = render_summary(grade, language, templates=folder)
    outcome_files["comment"] = _write_text(out_dir / COMMENT, comment)
    outcome_files["summary"] = _write_text(out_dir / SUMMARY, summary)
    if validated.ok:
        from grader.report.private import write_private_outputs

        private = write_private_outputs(
            run, course, out_dir / PRIVATE, now=now, language=language, templates=folder
        )
        outcome_files |= {path.name.split(".")[0]: path for path in private}  # private, private-summary
    return GradeOutcome(grade=grade, out_dir=out_dir, files=outcome_files, comment=comment, summary=summary)


def _forward_measure(notify: PipelineProgress) -> Callable[[ProgressEvent], None]:
    def forward(event: ProgressEvent) -> None:
        notify(StageEvent(f"measure:{event.stage}", event.message, event.done, event.total))

    return forward


def _write_text(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def _ignore(event: StageEvent) -> None:
    return None

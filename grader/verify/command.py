"""`grader verify MEASUREMENT_JSON [--course] [--out grade.json] [--private-out DIR]
[--public-measurement FILE]`: exit 0 on pass, 1 otherwise.

The grade leaves out figures on private eval sets until the homework's deadline
(grader.verify.private); `--private-out` keeps them for the instructors, `--public-measurement`
writes the measurement without them (the copy a public workflow artifact may carry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grader.cli_common import CourseOption, err, friendly, resolve_course
from grader.course.model import Course
from grader.exitcodes import ExitCode
from grader.verify.models import Grade

commands = typer.Typer()  # added to `grader` by grader.cli


@commands.command("verify")
@friendly
def verify_command(
    measurement: Annotated[
        Path,
        typer.Argument(
            help="The measurement-run JSON from `grader measure` (or a validated-submission JSON that "
            "did not validate: it becomes an `invalid` grade)."
        ),
    ],
    course: CourseOption = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the grade JSON here (default: stdout).")
    ] = None,
    private_out: Annotated[
        Path | None,
        typer.Option(
            "--private-out",
            help="Instructor-only folder: when the run holds figures on private eval sets, write the "
            "grade with every figure (private.json) and its summary (private-summary.md) here.",
        ),
    ] = None,
    public_measurement: Annotated[
        Path | None,
        typer.Option(
            "--public-measurement",
            help="Write the measurement without the figures this grade withholds (for public artifacts).",
        ),
    ] = None,
) -> None:
    """Check the claims against the measured figures; write the grade (verdict, ratios, score)."""
    from grader.course import load_course
    from grader.verify import grade_from_document

    loaded = load_course(resolve_course(course))
    grade = grade_from_document(measurement, loaded)
    if out is None:
        typer.echo(grade.to_json(), nl=False)
    else:
        grade.write(out)
    print_grade_summary(grade, out)
    if grade.entries and (private_out is not None or public_measurement is not None or grade.withheld):
        _private_outputs(measurement, loaded, grade, private_out, public_measurement)
    raise typer.Exit(ExitCode.OK if grade.verdict.value == "pass" else ExitCode.CHECKS_FAILED)


def _private_outputs(
    measurement: Path, course: Course, grade: Grade, private_out: Path | None, public: Path | None
) -> None:
    from grader.harness.models import MeasurementRun
    from grader.report.private import write_private_outputs
    from grader.verify.private import Withheld, redact_measurement

    run = MeasurementRun.read(measurement)
    if public is not None:
        hidden = Withheld(tuple(grade.withheld), None)
        redact_measurement(run, hidden).write(public)
        err.print(f"measurement without withheld figures written to {public}", markup=False, highlight=False)
    if private_out is not None:
        for path in write_private_outputs(run, course, private_out):
            err.print(f"instructor-only: {path}", markup=False, highlight=False)
    elif grade.withheld:
        err.print(
            f"figures on the private eval set(s) {', '.join(grade.withheld)} are withheld from this grade; "
            "pass --private-out DIR to keep them for the instructors",
            markup=False,
            highlight=False,
        )


def print_grade_summary(grade: Grade, out: Path | None) -> None:
    from grader.report.view import STATUS_ICONS, VERDICT_ICONS

    err.print(f"{VERDICT_ICONS[grade.verdict]} {grade.verdict.value}", style="bold", markup=False)
    for entry in grade.entries:
        marks = " ".join(
            f"{STATUS_ICONS[c.status]}{c.metric}" for c in entry.checks if c.claimed_raw is not None
        )
        err.print(f"  {entry.name}: {entry.verdict.value}  {marks}", markup=False, highlight=False)
    for finding in grade.findings:
        err.print(f"  {finding.location}: {finding.code} {finding.message}", markup=False, highlight=False)
    if out is not None:
        err.print(f"grade written to {out}", markup=False, highlight=False)

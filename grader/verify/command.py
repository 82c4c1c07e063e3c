"""`grader verify MEASUREMENT_JSON [--course] [--out grade.json]`: exit 0 on pass, 1 otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grader.cli import CourseOption, app, err, friendly, resolve_course
from grader.exitcodes import ExitCode
from grader.verify.models import Grade


@app.command("verify")
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
    _print_summary(grade, out)
    raise typer.Exit(ExitCode.OK if grade.verdict.value == "pass" else ExitCode.CHECKS_FAILED)


def _print_summary(grade: Grade, out: Path | None) -> None:
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

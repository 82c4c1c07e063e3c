"""The instructors' copy of a grade with private eval figures: `private.json` and its job summary.

Which figures are private and until when is verify's business (grader.verify.private); writing
them out, rendered, is the report stage's, so verify never renders. docs/instructors.md says
where these files go: a folder on the self-hosted runner, never a workflow artifact (anyone who
can read the repository can download those).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from grader.course.model import Course
from grader.harness.models import MeasurementRun
from grader.verify.private import private_results

PRIVATE_GRADE = "private.json"
PRIVATE_SUMMARY = "private-summary.md"


def write_private_outputs(
    run: MeasurementRun,
    course: Course,
    folder: Path,
    *,
    now: datetime | None = None,
    language: str | None = None,
    templates: Path | None = None,
) -> list[Path]:
    """The instructors' grade (`private.json`) and its job summary (`private-summary.md`) in
    ``folder``, when the run holds private figures; nothing (and no folder) otherwise."""
    from grader.atomic import write_atomic
    from grader.report import render_summary
    from grader.verify.grade import verify

    if not private_results(run):
        return []
    grade = verify(run, course, now=now, include_private=True)
    folder.mkdir(parents=True, exist_ok=True)
    written = [grade.write(folder / PRIVATE_GRADE)]
    summary = render_summary(grade, language, templates=templates)
    written.append(write_atomic(folder / PRIVATE_SUMMARY, summary))
    return written

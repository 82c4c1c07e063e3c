"""`grader grade MANIFEST [--course] [--out DIR] [--language ru|en] [--allow-code-formats]`: every
local stage at once.

Exit codes: 0 every claim reproduced, 1 graded but not passed (a claim off, a failure, noise,
something missing), 2 the manifest (or the course) could not be understood.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from grader.cli_common import CourseOption, Lang, err, find_repo_root, friendly, resolve_course

if TYPE_CHECKING:
    from grader.pipeline import GradeOutcome, StageEvent

commands = typer.Typer()  # added to `grader` by grader.cli
DEFAULT_OUT = Path("out")  # ignored by the course repository's .gitignore


@commands.command("grade")
@friendly
def grade_command(
    manifest: Annotated[Path, typer.Argument(help="submissions/<team>/hw-<n>/submission.yaml")],
    course: CourseOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the stage documents (default: out/<team>-<hw-n>)."),
    ] = None,
    language: Annotated[
        Lang | None, typer.Option("--language", help="ru or en (default: the course's).")
    ] = None,
    allow_code_formats: Annotated[
        bool,
        typer.Option(
            "--allow-code-formats",
            help="An instructor allows TorchScript for this submission (what the PR's "
            "`allow-torchscript` label does in CI).",
        ),
    ] = False,
) -> None:
    """Validate, measure, verify and report one submission; write every stage's document."""
    from rich.markup import escape

    from grader.course import load_course
    from grader.pipeline import grade_manifest

    course_path = resolve_course(course, near=manifest.parent)
    loaded = load_course(course_path)
    repo_root = find_repo_root(manifest.parent) or course_path.parent
    out_dir = out or default_out_dir(manifest)
    with err.status("grading…", spinner="dots") as status:

        def show(event: StageEvent) -> None:
            count = f" [{event.done}/{event.total}]" if event.total else ""
            status.update(escape(f"{event.stage}{count}: {event.message}"))

        outcome = grade_manifest(
            manifest,
            loaded,
            repo_root,
            out_dir,
            progress=show,
            language=language.value if language else None,
            course_file=course_path,
            allow_code_formats=allow_code_formats,
        )
    print_outcome(outcome)
    raise typer.Exit(outcome.exit_code)


def default_out_dir(manifest: Path) -> Path:
    """out/<team>-<hw-n> from the manifest's place (submissions/<team>/hw-<n>/submission.yaml)."""
    folder = manifest.resolve().parent
    if folder.parent.name and folder.name:
        return DEFAULT_OUT / f"{folder.parent.name}-{folder.name}"
    return DEFAULT_OUT / "submission"


def print_outcome(outcome: GradeOutcome) -> None:
    """The verdict and each model's checks (as `grader verify` prints them), then the files."""
    from grader.verify.command import print_grade_summary

    print_grade_summary(outcome.grade, None)
    err.print(f"documents in {outcome.out_dir}:", markup=False, highlight=False)
    for name, path in outcome.files.items():
        err.print(f"  {name:<12} {path}", markup=False, highlight=False)

"""`grader fetch VALIDATED --out FILE`: fetch every artifact and record where it is and its digests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grader.cli_common import CourseOption, err, find_repo_root, friendly, resolve_course
from grader.exitcodes import ExitCode

commands = typer.Typer()  # added to `grader` by grader.cli


@commands.command("fetch")
@friendly
def fetch_command(
    validated: Annotated[Path, typer.Argument(help="validated.json from `grader validate --out`.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the fetched-artifacts JSON.")] = Path(
        "fetched.json"
    ),
    course: CourseOption = None,
    cache: Annotated[
        Path | None,
        typer.Option(
            "--cache", help="Download cache (default: $GRADER_CACHE_DIR or ~/.cache/compression-grader)."
        ),
    ] = None,
    repo: Annotated[
        Path | None, typer.Option("--repo", help="Repository root (default: the folder with course.yaml).")
    ] = None,
) -> None:
    """Fetch each model's files (path, Hugging Face revision, or URL + sha256), check and digest them."""
    from grader.course import load_course
    from grader.fetch.document import fetch_all
    from grader.validate.document import ValidatedSubmission

    submission = ValidatedSubmission.read(validated)
    course_path = resolve_course(course, near=validated.parent)
    loaded = load_course(course_path)
    repo_root = repo or find_repo_root(course_path.parent) or course_path.parent
    document = fetch_all(submission, repo_root, cache, max_mib=loaded.runner.limits.artifact_max_mib)
    document.write(out)
    for item in document.artifacts:
        if item.ok:
            err.print(
                f"[green]ok[/green]     {item.key}: {len(item.files)} file(s) in {item.root}", highlight=False
            )
        else:
            err.print(f"[red]failed[/red] {item.key}: {item.reason}", highlight=False)
    err.print(f"wrote {out}", highlight=False)
    if not all(item.ok for item in document.artifacts):
        raise typer.Exit(ExitCode.CHECKS_FAILED)

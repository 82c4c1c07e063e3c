"""`grader site [--results DIR] [--out DIR]`: the static course page (GitHub Pages)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grader.cli_common import CourseOption, err, find_repo_root, friendly, resolve_course
from grader.leaderboard.gradebook_command import ResultsOption

commands = typer.Typer()  # added to `grader` by grader.cli


@commands.command("site")
@friendly
def site_command(
    out: Annotated[Path, typer.Option("--out", help="The folder to write the site into (e.g. _site).")],
    results: ResultsOption = None,
    course: CourseOption = None,
    language: Annotated[
        str | None, typer.Option("--language", help="ru or en (default: the course's).")
    ] = None,
) -> None:
    """Build the course page from the records: per-homework tables that sort and filter, size–quality
    and speed–quality scatters with Pareto fronts, a page per team with its attempts. Static files
    only (no server, nothing fetched at view time); open index.html or publish the folder."""
    from grader.course import load_course
    from grader.site import build_site

    if out.exists() and not out.is_dir():
        raise typer.BadParameter(f"{out} is a file; give a folder", param_hint="--out")
    root = find_repo_root() or Path.cwd()
    loaded = load_course(resolve_course(course))
    outcome = build_site(results or root / "leaderboard" / "results", out, loaded, language=language)
    err.print(
        f"site: {outcome.index} ({outcome.records} records, {len(outcome.team_pages)} team pages)",
        markup=False,
        highlight=False,
    )

"""`grader collect GRADE_JSON [--results DIR]` and
`grader leaderboard [--results DIR] [--readme README.md] [--plots DIR] [--check]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grader.cli import CourseOption, app, err, find_repo_root, friendly, resolve_course
from grader.exitcodes import ExitCode

ResultsOption = Annotated[
    Path | None,
    typer.Option(
        "--results", help="The records folder (default: leaderboard/results at the repository root)."
    ),
]


def _root() -> Path:
    return find_repo_root() or Path.cwd()


@app.command("collect")
@friendly
def collect_command(
    grade: Annotated[Path, typer.Argument(help="The grade JSON of a merged PR (from `grader verify`).")],
    results: ResultsOption = None,
) -> None:
    """File a merged PR's verified record; a newer record is never replaced by an older one."""
    from grader.leaderboard import NotCollectableError, collect_record
    from grader.verify.models import Grade

    loaded = Grade.read(grade)
    folder = results or _root() / "leaderboard" / "results"
    try:
        outcome = collect_record(loaded, folder)
    except NotCollectableError as error:
        err.print(f"not collected: {error}", style="yellow", markup=False)
        raise typer.Exit(ExitCode.CHECKS_FAILED) from None
    if outcome.action == "kept-newer" and outcome.kept is not None:
        pr = outcome.kept.source.pr_number
        err.print(
            f"kept the newer record {outcome.path} (PR #{pr}, graded {outcome.kept.source.graded_at})",
            markup=False,
            highlight=False,
        )
    else:
        err.print(f"{outcome.action}: {outcome.path}", markup=False, highlight=False)


@app.command("leaderboard")
@friendly
def leaderboard_command(
    results: ResultsOption = None,
    readme: Annotated[
        Path | None, typer.Option("--readme", help="The README to update (default: README.md at the root).")
    ] = None,
    plots: Annotated[
        Path | None, typer.Option("--plots", help="Where the plots go (default: leaderboard/plots).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the README section is stale.")
    ] = False,
    course: CourseOption = None,
    language: Annotated[
        str | None, typer.Option("--language", help="ru or en (default: the course's).")
    ] = None,
) -> None:
    """Regenerate the README leaderboard section and plots from the verified records."""
    from grader.course import load_course
    from grader.leaderboard import update_leaderboard

    root = _root()
    loaded = load_course(resolve_course(course))
    outcome = update_leaderboard(
        results or root / "leaderboard" / "results",
        readme or root / "README.md",
        plots or root / "leaderboard" / "plots",
        loaded,
        language=language,
        check=check,
    )
    if check:
        if outcome.stale:
            what = ["the README section is stale"] if outcome.readme_changed else []
            what += [f"missing plot {p}" for p in outcome.missing_plots]
            err.print(f"stale: {'; '.join(what)}. Run `grader leaderboard`.", style="red", markup=False)
            raise typer.Exit(ExitCode.CHECKS_FAILED)
        err.print(f"up to date ({outcome.records} records)", markup=False)
        return
    if outcome.markers_added:
        err.print(
            f"{outcome.readme} had no leaderboard markers: the section was added at its end, and the "
            "text above it was kept",
            style="yellow",
            markup=False,
            highlight=False,
        )
    changed = "updated" if outcome.readme_changed else "unchanged"
    err.print(
        f"{outcome.readme}: {changed}; {outcome.records} records; "
        f"plots written: {len(outcome.plots_written)}",
        markup=False,
        highlight=False,
    )

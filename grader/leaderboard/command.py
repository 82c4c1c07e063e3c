"""`grader collect GRADE_JSON [--results DIR]` and
`grader leaderboard [--results DIR] [--readme README.md] [--plots DIR] [--check]`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from grader.cli_common import CourseOption, err, find_repo_root, friendly, resolve_course
from grader.errors import InputError
from grader.exitcodes import ExitCode

commands = typer.Typer()  # added to `grader` by grader.cli

ResultsOption = Annotated[
    Path | None,
    typer.Option(
        "--results", help="The records folder (default: leaderboard/results at the repository root)."
    ),
]


def _root() -> Path:
    return find_repo_root() or Path.cwd()


@commands.command("collect")
@friendly
def collect_command(
    grade: Annotated[Path, typer.Argument(help="The grade JSON of a merged PR (from `grader verify`).")],
    results: ResultsOption = None,
    pr: Annotated[
        int | None, typer.Option("--pr", min=1, help="The PR the grade must belong to (from the API).")
    ] = None,
    expected_sha: Annotated[
        str | None, typer.Option("--expected-sha", help="The merged head SHA the grade must be of (API).")
    ] = None,
    team: Annotated[
        str | None, typer.Option("--team", help="The PR's team (from its changed files).")
    ] = None,
    homework: Annotated[
        int | None, typer.Option("--homework", min=1, help="The PR's homework (from its changed files).")
    ] = None,
) -> None:
    """File a merged PR's verified record; a newer record is never replaced by an older one.

    With --pr, --expected-sha, --team and --homework (the leaderboard workflow passes all four,
    read from the GitHub API), a grade that names another PR, commit, team or homework is refused
    (L004, exit 2): the grade is an artifact, and the API is the authority on whose it is.
    """
    from grader.leaderboard import NotCollectableError, collect_record
    from grader.leaderboard.records import Provenance, provenance_findings
    from grader.verify.models import Grade

    loaded = Grade.read(grade)
    given = [pr, expected_sha, team, homework]
    if any(value is not None for value in given):
        if pr is None or expected_sha is None or team is None or homework is None:
            raise typer.BadParameter("give all of --pr, --expected-sha, --team and --homework, or none")
        problems = provenance_findings(loaded, Provenance(pr, expected_sha, team, homework), str(grade))
        if problems:
            raise InputError(problems)
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


@commands.command("leaderboard")
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
    """Regenerate the README's leaderboard and gradebook sections and the plots from the verified
    records (each section between its markers; the gradebook in the course's language)."""
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
            what = (
                ["the README's leaderboard or gradebook section is stale"] if outcome.readme_changed else []
            )
            what += [f"missing plot {p}" for p in outcome.missing_plots]
            err.print(f"stale: {'; '.join(what)}. Run `grader leaderboard`.", style="red", markup=False)
            raise typer.Exit(ExitCode.CHECKS_FAILED)
        err.print(f"up to date ({outcome.records} records)", markup=False)
        return
    for added, name in (
        (outcome.markers_added, "leaderboard"),
        (outcome.gradebook_markers_added, "gradebook"),
    ):
        if added:
            err.print(
                f"{outcome.readme} had no {name} markers: the section was added "
                f"{'after the leaderboard' if name == 'gradebook' else 'at its end'}, and the rest was kept",
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

"""`grader gradebook [--results DIR] [--out DIR]` and `grader history TEAM [--results DIR]`: the
instructors' end of the course (points per team and homework; every collected attempt)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from grader.cli_common import CourseOption, err, find_repo_root, friendly, resolve_course

if TYPE_CHECKING:
    from grader.course.model import Course
    from grader.leaderboard.records import AttemptRecord, LeaderboardRecord
    from grader.report.templates import Strings

commands = typer.Typer()  # added to `grader` by grader.cli

ResultsOption = Annotated[
    Path | None,
    typer.Option(
        "--results", help="The records folder (default: leaderboard/results at the repository root)."
    ),
]
LanguageOption = Annotated[str | None, typer.Option("--language", help="ru or en (default: the course's).")]


def _root() -> Path:
    return find_repo_root() or Path.cwd()


@commands.command("gradebook")
@friendly
def gradebook_command(
    results: ResultsOption = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Where gradebook.csv/.md/.xlsx go (default: leaderboard/gradebook)."),
    ] = None,
    course: CourseOption = None,
    language: LanguageOption = None,
) -> None:
    """Write the gradebook: one row per team, per homework its score, points by the course's rule,
    verdict, lateness, PR, head SHA and grading time (CSV, Markdown; XLSX where openpyxl is installed)."""
    from grader.course import load_course
    from grader.leaderboard.gradebook import write_gradebook

    root = _root()
    loaded = load_course(resolve_course(course))
    files = write_gradebook(
        results or root / "leaderboard" / "results",
        out or root / "leaderboard" / "gradebook",
        loaded,
        language=language,
    )
    written = [files.csv, files.markdown] + ([files.xlsx] if files.xlsx else [])
    err.print(
        f"gradebook of {len(files.book.teams)} teams: " + ", ".join(str(p) for p in written),
        markup=False,
        highlight=False,
    )
    if files.xlsx is None:
        err.print("no XLSX: openpyxl is not installed (pip install openpyxl)", markup=False, style="yellow")


@commands.command("history")
@friendly
def history_command(
    team: Annotated[str, typer.Argument(help="The team, as course.yaml names it.")],
    results: ResultsOption = None,
    homework: Annotated[int | None, typer.Option("--homework", min=1, help="Only this homework.")] = None,
    course: CourseOption = None,
    language: LanguageOption = None,
) -> None:
    """Every collected attempt of a team (each push's and regrade's grade), and why a record replaced
    another or stayed in the history."""
    from grader.leaderboard.records import load_attempts, load_records
    from grader.report.templates import find_templates, load_strings

    folder = results or _root() / "leaderboard" / "results"
    loaded = _course_or_none(course)
    s = load_strings(find_templates(), language or (loaded.language if loaded else "ru"))
    if not _plausible_team(team):
        raise typer.BadParameter(
            f"{team!r} is not a team name (letters, digits, `_` and `-`)", param_hint="TEAM"
        )
    attempts = [a for a in load_attempts(folder, team) if homework in (None, a.homework)]
    # Outside a terminal (a CI log, a file) rich would assume 80 columns and cut the cells.
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 260)
    if not attempts:
        out.print(s("history.none", team=team, folder=folder), markup=False)
        raise typer.Exit(0)
    current = {(r.team, r.homework): r for r in load_records(folder) if r.team == team}
    out.print(history_table(attempts, current, s, team))


def _course_or_none(course: Path | None) -> Course | None:
    """The course if there is one (only for its language): history reads the records alone."""
    from grader.course import load_course
    from grader.errors import InputError

    try:
        return load_course(resolve_course(course))
    except InputError:
        if course is not None:
            raise
        return None


def _plausible_team(team: str) -> bool:
    import re

    return re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", team) is not None  # also keeps the glob inside results/


def history_table(
    attempts: list[AttemptRecord], current: dict[tuple[str, int], LeaderboardRecord], s: Strings, team: str
):  # -> rich.table.Table
    from rich.table import Table

    table = Table(title=s("history.title", team=team), title_justify="left")
    keys = ("homework", "graded_at", "pr", "head", "trigger", "verdict", "best", "changed", "now", "why")
    for key in keys:
        table.add_column(s(f"history.{key}"), no_wrap=key not in ("why", "changed"))
    previous: AttemptRecord | None = None
    for attempt in attempts:  # by homework, then oldest first (load_attempts)
        record = current.get((attempt.team, attempt.homework))
        is_current = record is not None and same_record(attempt, record)
        table.add_row(
            str(attempt.homework),
            _when(attempt.source.graded_at),
            f"#{attempt.source.pr_number}" if attempt.source.pr_number is not None else "—",
            (attempt.source.head_sha or "—")[:7],
            trigger(attempt, s),
            s(f"gradebook.verdicts.{attempt.verdict.value}"),
            best_score(attempt),
            changes(previous, attempt, s),
            s("history.current") if is_current else s("history.past"),
            why(attempt, s),
            style="bold" if is_current else None,
        )
        previous = attempt
    return table


def trigger(attempt: AttemptRecord, s: Strings) -> str:
    """Why the attempt was graded (a push, a regrade, the merge), as the API said; "—" unknown."""
    key = f"history.trigger_{attempt.origin.trigger}" if attempt.origin else ""
    return s(key) if key and s.has(key) else "—"


def changes(previous: AttemptRecord | None, attempt: AttemptRecord, s: Strings) -> str:
    """What is different from the team's previous attempt at the same homework, in words."""
    from grader.report.templates import visible

    if previous is None or previous.homework != attempt.homework:
        return "—"
    old, new = previous.source, attempt.source
    if old.pr_number != new.pr_number:
        parts = [s("history.changed_pr", pr=new.pr_number if new.pr_number is not None else "—")]
    elif old.head_sha != new.head_sha:
        parts = [s("history.changed_commit", sha=(new.head_sha or "—")[:7])]
    else:
        parts = [s("history.same_commit")]
    if previous.verdict != attempt.verdict:
        verdicts = {
            k: s(f"gradebook.verdicts.{r.verdict.value}") for k, r in (("old", previous), ("new", attempt))
        }
        parts.append(s("history.changed_verdict", **verdicts))
    if best_score(previous) != best_score(attempt):
        parts.append(s("history.changed_best", old=best_score(previous), new=best_score(attempt)))
    # Model names are the team's text: invisible characters are written out (report.templates.visible).
    names = [visible(e.name) for e in previous.entries], [visible(e.name) for e in attempt.entries]
    if names[0] != names[1]:
        added = [f"+{n}" for n in names[1] if n not in names[0]]
        dropped = [f"−{n}" for n in names[0] if n not in names[1]]
        parts.append(s("history.changed_models", models=", ".join(added + dropped) or "↕"))
    figures = [[e.measured.model_dump() for e in r.entries] for r in (previous, attempt)]
    if len(parts) == 1:
        parts.append(s("history.same_figures" if figures[0] == figures[1] else "history.changed_figures"))
    return "; ".join(parts)


def same_record(attempt: AttemptRecord, record: LeaderboardRecord) -> bool:
    fields = attempt.model_dump(exclude={"kind", "schema_version", "collection", "origin"})
    return fields == record.model_dump(exclude={"kind", "schema_version"})


def why(attempt: AttemptRecord, s: Strings) -> str:
    """What collecting this attempt did, in words (grader.leaderboard.records.Collection)."""
    c = attempt.collection
    if c.action == "created":
        return s("history.created")
    other = c.other
    params = {
        "pr": other.pr_number if other and other.pr_number is not None else "—",
        "sha": (other.head_sha or "—")[:7] if other else "—",
        "when": _when(other.graded_at) if other else "—",
    }
    key = f"history.{c.action}_{c.reason}"
    return s(key, **params) if s.has(key) else f"{c.action} ({c.reason})"


def best_score(record: LeaderboardRecord) -> str:
    from grader.course.model import ScoringRule
    from grader.verify import formatting as fmt

    scored = [e for e in record.entries if e.score is not None and not e.is_baseline]
    if not scored:
        return "—"
    best = max(scored, key=lambda e: e.score or 0.0)
    assert best.score is not None
    if record.scoring is not None and record.scoring.rule is ScoringRule.QUALITY:
        info = record.quality_metrics.get(best.measured.quality_primary or "")
        return fmt.score_value(abs(best.score), bounded=info.bounded if info else None)
    return fmt.ratio(best.score)


def _when(stamp: str | None) -> str:
    return stamp.replace("T", " ").replace("Z", " UTC") if stamp else "—"

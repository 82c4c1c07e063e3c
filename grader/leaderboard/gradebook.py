"""The gradebook: one row per team, one column group per homework, points by the course's rule.

A team's result for a homework is its current (leaderboard) record: its best model's score and
its place among the teams (the leaderboard's ranking, grader.leaderboard.tables), the record's
verdict, whether it came in late, and where it came from (PR, head SHA, graded-at). Points follow
`homeworks[].points` in course.yaml (grader.course.model: flat, rank, threshold, linear); a
verdict the rule does not list earns 0, and a late submission's points are multiplied by the
rule's `late_factor`.

Late: the moment of the graded push (the API's event time, kept in the record), else the first
time this PR's head commit was graded (from the history: a regrade after the deadline does not
make an on-time push late), else the record's own grading time; against the homework's
`deadline` (a deadline without a time zone is read as UTC).

Written as CSV (always), XLSX (only where openpyxl is installed) and Markdown (`grader
gradebook`); the same Markdown is the README's gradebook section, between `<!-- gradebook:start -->`
and `<!-- gradebook:end -->`, regenerated with the leaderboard (`grader leaderboard`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from grader.atomic import write_atomic
from grader.course.model import (
    Course,
    FlatPoints,
    Homework,
    LinearPoints,
    PointsRule,
    RankPoints,
    ScoringRule,
    ThresholdPoints,
    max_points,
)
from grader.leaderboard.records import AttemptRecord, LeaderboardRecord, _moment
from grader.report.templates import Strings, md, tidy
from grader.verify import formatting as fmt


@dataclass(frozen=True)
class Cell:
    """One team's result for one homework (all None: nothing submitted)."""

    score: float | None = None
    score_text: str = "—"
    place: int | None = None
    points: float | None = None
    verdict: str | None = None
    late: bool | None = None
    submitted_at: str | None = None
    pr: int | None = None
    head_sha: str | None = None
    graded_at: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class HomeworkColumn:
    id: int
    title: str
    rule: PointsRule | None
    deadline: datetime | None


@dataclass
class Gradebook:
    language: str
    homeworks: list[HomeworkColumn]
    teams: list[str]
    cells: dict[tuple[str, int], Cell] = field(default_factory=dict)

    def cell(self, team: str, homework: int) -> Cell:
        return self.cells.get((team, homework), Cell())

    def total(self, team: str) -> float:
        return round(sum(self.cell(team, hw.id).points or 0.0 for hw in self.homeworks), 2)

    def max_total(self) -> float:
        return round(sum(max_points(hw.rule) for hw in self.homeworks if hw.rule is not None), 2)


# --- building ------------------------------------------------------------------------------------


def build_gradebook(
    records: list[LeaderboardRecord],
    attempts: list[AttemptRecord],
    course: Course | None,
    s: Strings,
) -> Gradebook:
    from grader.leaderboard import _by_homework, _title

    language = s.language

    columns = [
        HomeworkColumn(hw.id, hw.title.get(language), hw.points, _aware(hw.deadline))  # type: ignore[arg-type]
        for hw in (course.homeworks if course else [])
    ]
    known = {c.id for c in columns}
    for hw_id, group in _by_homework(records, course):
        if hw_id not in known:
            columns.append(HomeworkColumn(hw_id, _title(hw_id, group, course, language), None, None))
    teams = sorted(set(course.teams if course else []) | {r.team for r in records})
    book = Gradebook(language=language, homeworks=columns, teams=teams)
    homeworks = {hw.id: hw for hw in course.homeworks} if course else {}
    for column in columns:
        group = [r for r in records if r.homework == column.id]
        places = _team_places(group, s)
        for record in group:
            tried = [a for a in attempts if a.team == record.team and a.homework == column.id]
            book.cells[(record.team, column.id)] = _cell(
                record, tried, places.get(record.team), column, homeworks.get(column.id)
            )
    return book


def _team_places(group: list[LeaderboardRecord], s: Strings) -> dict[str, tuple[int, float, str]]:
    """team → (place, score, score text) by its best ranked model; teams share a place on a tie."""
    from grader.leaderboard import tables

    if not group or tables.rule_of(group) is ScoringRule.NONE:
        return {}
    frame = tables.homework_frame(group)
    best: dict[str, tuple[int, float, str]] = {}
    row: Any  # a DataFrame itertuples() row: its cells are untyped
    for row in frame.itertuples():
        if pd.isna(row.rank) or row.team in best:
            continue  # ranked rows come first, best first: a team's first row is its best
        best[row.team] = (int(row.rank), float(row.score), _score_text(row, group, s))
    ordered = sorted({rank for rank, _, _ in best.values()})
    return {
        team: (1 + sum(r < rank for r in ordered), score, text) for team, (rank, score, text) in best.items()
    }


def _score_text(
    row, group: list[LeaderboardRecord], s: Strings
) -> str:  # row: a homework_frame itertuples() row
    from grader.leaderboard import tables

    rule = tables.rule_of(group)
    if rule is ScoringRule.PARETO:
        return s("ratios.pareto_score", rank=int(row.pareto_rank), value=fmt.ratio(row.compression))
    if rule is ScoringRule.QUALITY:
        info = next((r.quality_metrics.get(row.quality_metric) for r in group if r.quality_metrics), None)
        return fmt.score_value(abs(row.score), bounded=info.bounded if info else None)
    return fmt.ratio(row.score)


def _cell(
    record: LeaderboardRecord,
    attempts: list[AttemptRecord],
    place: tuple[int, float, str] | None,
    column: HomeworkColumn,
    homework: Homework | None,
) -> Cell:
    submitted = submitted_at(record, attempts)
    late = None if column.deadline is None or submitted is None else _moment(submitted) > column.deadline
    rank, score, text = place if place else (None, None, "—")
    points = award(column.rule, record.verdict.value, score, rank, late=bool(late)) if column.rule else None
    return Cell(
        score=score,
        score_text=text,
        place=rank,
        points=points,
        verdict=record.verdict.value,
        late=late,
        submitted_at=submitted,
        pr=record.source.pr_number,
        head_sha=record.source.head_sha,
        graded_at=record.source.graded_at,
        attempts=max(len(attempts), 1),
    )


def submitted_at(record: LeaderboardRecord, attempts: list[AttemptRecord]) -> str | None:
    """When the graded commit was pushed, as well as the records know (see the module docstring)."""
    if record.source.event_time:
        return record.source.event_time
    same = [
        a.source.graded_at
        for a in attempts
        if a.source.graded_at
        and a.source.pr_number == record.source.pr_number
        and a.source.head_sha == record.source.head_sha
    ]
    return min(same, key=_moment) if same else record.source.graded_at


def award(rule: PointsRule, verdict: str, score: float | None, place: int | None, *, late: bool) -> float:
    """The points of one homework (see grader.course.model's points rules)."""
    if verdict not in rule.verdicts:
        return 0.0
    if isinstance(rule, FlatPoints):
        points = rule.points
    elif isinstance(rule, RankPoints):
        if place is None:
            points = 0.0
        else:
            points = rule.by_rank[place - 1] if place <= len(rule.by_rank) else rule.otherwise
    elif isinstance(rule, ThresholdPoints):
        reached = [t.points for t in rule.thresholds if score is not None and score >= t.score - 1e-12]
        points = max(reached, default=0.0)
    else:
        assert isinstance(rule, LinearPoints)
        if score is None:
            points = 0.0
        else:
            share = min(max((score - rule.low) / (rule.high - rule.low), 0.0), 1.0)
            points = rule.points * share
    return round(points * (rule.late_factor if late else 1.0), 2)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- CSV and XLSX --------------------------------------------------------------------------------

FIELDS = ("score", "place", "points", "verdict", "late", "pr", "head_sha", "graded_at", "attempts")


def table_rows(book: Gradebook) -> list[list[str]]:
    """The header and one row per team: `team`, then `hw<n>_<field>` per homework, then `total`."""
    header = ["team"] + [f"hw{hw.id}_{name}" for hw in book.homeworks for name in FIELDS] + ["total_points"]
    rows = [header]
    for team in book.teams:
        row = [team]
        for hw in book.homeworks:
            cell = book.cell(team, hw.id)
            row += [
                _number(cell.score),
                "" if cell.place is None else str(cell.place),
                _number(cell.points),
                cell.verdict or "",
                "" if cell.late is None else ("yes" if cell.late else "no"),
                "" if cell.pr is None else str(cell.pr),
                cell.head_sha or "",
                cell.graded_at or "",
                str(cell.attempts) if cell.attempts else "",
            ]
        row.append(_number(book.total(team)))
        rows.append(row)
    return rows


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{round(value, 4):g}"


def to_csv(book: Gradebook) -> str:
    buffer = io.StringIO()
    # Team names are [a-z0-9_-] starting with a letter or digit, verdicts are words: no cell can
    # start with `=`, `+`, `-` or `@`, so a spreadsheet never reads one as a formula.
    csv.writer(buffer, lineterminator="\n").writerows(table_rows(book))
    return buffer.getvalue()


def to_xlsx(book: Gradebook) -> bytes | None:
    """The same table as a workbook, or None where openpyxl is not installed (an optional extra)."""
    try:
        from openpyxl import Workbook
    except ImportError:
        return None
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new Workbook holds one worksheet, the active one
    sheet.title = "gradebook"
    for row in table_rows(book):
        sheet.append([_typed(value) for value in row])
    sheet.freeze_panes = "B2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _typed(value: str) -> object:
    try:
        return float(value) if value and value.replace(".", "", 1).lstrip("-").isdigit() else value
    except ValueError:
        return value


# --- Markdown ------------------------------------------------------------------------------------


def to_markdown(book: Gradebook, s: Strings, *, intro: str = "gradebook.intro") -> str:
    """The gradebook in Markdown: `gradebook.md`, and (with the README's intro) the README section
    between the gradebook markers that `grader leaderboard` regenerates."""
    lines = [f"## {s('gradebook.title')}", "", s(intro), ""]
    if not book.cells:
        return tidy("\n".join([*lines, s("gradebook.empty")]))
    lines += [_summary(book, s), ""]
    for hw in book.homeworks:
        if not any(book.cell(team, hw.id).verdict for team in book.teams):
            continue
        lines += [f"### {s('gradebook.homework', homework=hw.id, title=md(hw.title))}", ""]
        lines += [_rule_line(hw, s), "", _detail(book, hw, s), ""]
    return tidy("\n".join(lines))


def _summary(book: Gradebook, s: Strings) -> str:
    shown = [hw for hw in book.homeworks if any(book.cell(t, hw.id).verdict for t in book.teams)]
    columns: dict[str, list[str]] = {s("gradebook.team"): [md(t) for t in book.teams]}
    for hw in shown:
        name = s("gradebook.homework", homework=hw.id, title="").rstrip(" ·")
        columns[name] = [_summary_cell(book.cell(t, hw.id), hw, s) for t in book.teams]
    rules = [hw for hw in shown if hw.rule is not None]
    top = round(sum(max_points(hw.rule) for hw in rules if hw.rule is not None), 2)
    columns[s("gradebook.total")] = [
        s("gradebook.of", points=_pts(book.total(t)), max=_pts(top)) if rules else "—" for t in book.teams
    ]
    return _markdown_table(columns)


def _summary_cell(cell: Cell, hw: HomeworkColumn, s: Strings) -> str:
    if cell.verdict is None:
        return "—"
    text = _pts(cell.points) if cell.points is not None else s(f"gradebook.verdicts.{cell.verdict}")
    return text + (f" ({s('gradebook.late_mark')})" if cell.late else "")


def _detail(book: Gradebook, hw: HomeworkColumn, s: Strings) -> str:
    teams = [t for t in book.teams if book.cell(t, hw.id).verdict]
    cells = [book.cell(t, hw.id) for t in teams]
    columns = {
        s("gradebook.team"): [md(t) for t in teams],
        s("gradebook.score"): [c.score_text for c in cells],
        s("gradebook.place"): [str(c.place) if c.place else "—" for c in cells],
        s("gradebook.points"): [_points_cell(c, hw, s) for c in cells],
        s("gradebook.verdict"): [s(f"gradebook.verdicts.{c.verdict}") for c in cells],
        s("gradebook.late"): [_yes_no(c.late, s) for c in cells],
        s("gradebook.pr"): [f"#{c.pr}" if c.pr is not None else "—" for c in cells],
        s("gradebook.head"): [f"`{c.head_sha[:7]}`" if c.head_sha else "—" for c in cells],
        s("gradebook.graded_at"): [_when(c.graded_at) for c in cells],
        s("gradebook.attempts"): [str(c.attempts) for c in cells],
    }
    return _markdown_table(columns)


def _points_cell(cell: Cell, hw: HomeworkColumn, s: Strings) -> str:
    if cell.points is None or hw.rule is None:
        return "—"
    return s("gradebook.of", points=_pts(cell.points), max=_pts(max_points(hw.rule)))


def _rule_line(hw: HomeworkColumn, s: Strings) -> str:
    parts = [rule_text(hw.rule, s)]
    if hw.rule is not None:
        words = ", ".join(s(f"gradebook.verdicts.{v}") for v in hw.rule.verdicts)
        parts.append(s("gradebook.earns", verdicts=words))
        if hw.rule.late_factor != 1.0:
            parts.append(s("gradebook.late_factor", factor=_pts(hw.rule.late_factor)))
    parts.append(
        s("gradebook.deadline", when=_when(hw.deadline.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")))
        if hw.deadline
        else s("gradebook.no_deadline")
    )
    return "; ".join(parts) + "."


def rule_text(rule: PointsRule | None, s: Strings) -> str:
    if rule is None:
        return s("gradebook.no_points")
    if isinstance(rule, FlatPoints):
        return s("gradebook.rule_flat", points=_pts(rule.points))
    if isinstance(rule, RankPoints):
        return s(
            "gradebook.rule_rank",
            points=" / ".join(_pts(p) for p in rule.by_rank),
            otherwise=_pts(rule.otherwise),
        )
    if isinstance(rule, ThresholdPoints):
        steps = ", ".join(
            f"≥ {t.score:g} → {_pts(t.points)}" for t in sorted(rule.thresholds, key=lambda t: t.score)
        )
        return s("gradebook.rule_threshold", steps=steps)
    return s("gradebook.rule_linear", low=f"{rule.low:g}", high=f"{rule.high:g}", points=_pts(rule.points))


def _yes_no(value: bool | None, s: Strings) -> str:
    return "—" if value is None else s("gradebook.yes" if value else "gradebook.no")


def _pts(value: float | None) -> str:
    return "—" if value is None else f"{round(value, 2):g}"


def _when(stamp: str | None) -> str:
    return stamp.replace("T", " ").replace("Z", " UTC") if stamp else "—"


def _markdown_table(columns: dict[str, list[str]]) -> str:
    # Cells are already text; parsing them as numbers would re-align and re-round them.
    return pd.DataFrame(columns).to_markdown(index=False, tablefmt="github", disable_numparse=True)


# --- writing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GradebookFiles:
    csv: Path
    markdown: Path
    xlsx: Path | None  # None: openpyxl is not installed
    book: Gradebook


def write_gradebook(
    results_dir: Path, out_dir: Path, course: Course | None, *, language: str | None = None, templates=None
) -> GradebookFiles:
    from grader.leaderboard.records import load_attempts, load_records
    from grader.report.templates import find_templates, load_strings

    s = load_strings(find_templates(templates), language or (course.language if course else "ru"))
    book = build_gradebook(load_records(results_dir), load_attempts(results_dir), course, s)
    csv_path = write_atomic(out_dir / "gradebook.csv", to_csv(book))
    md_path = write_atomic(out_dir / "gradebook.md", to_markdown(book, s))
    workbook = to_xlsx(book)
    xlsx_path = write_atomic(out_dir / "gradebook.xlsx", workbook) if workbook is not None else None
    return GradebookFiles(csv_path, md_path, xlsx_path, book)

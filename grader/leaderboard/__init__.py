"""The leaderboard: verified records → per-homework tables (pandas) → Jinja → the README section
between `<!-- leaderboard:start -->` and `<!-- leaderboard:end -->`, plus PNG plots; and the
gradebook (points per team and homework, grader.leaderboard.gradebook) as the README section
between `<!-- gradebook:start -->` and `<!-- gradebook:end -->`, regenerated with it.

`collect(grade, results_dir) -> Path` files a merged PR's record (grader.leaderboard.records);
`update_leaderboard(results_dir, readme, plots_dir, course)` regenerates the section and plots.
Re-running on the same records changes no byte (README or PNG).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from grader.atomic import write_atomic
from grader.course.model import Course
from grader.errors import InputError
from grader.findings import Finding, Location
from grader.leaderboard.records import (
    AttemptRecord,
    Collected,
    LeaderboardRecord,
    NotCollectableError,
    collect,
    collect_record,
    load_attempts,
    load_records,
    record_from_grade,
)
from grader.report.templates import Strings
from grader.verify.rules import rule_for

__all__ = [
    "Collected",
    "LeaderboardOutcome",
    "LeaderboardRecord",
    "NotCollectableError",
    "collect",
    "collect_record",
    "gradebook_section",
    "load_records",
    "record_from_grade",
    "render_section",
    "update_leaderboard",
]


@dataclass
class LeaderboardOutcome:
    readme: Path
    readme_changed: bool  # (with check=True: would change)
    plots: list[Path] = field(default_factory=list)  # every plot the section links
    plots_written: list[Path] = field(default_factory=list)
    missing_plots: list[Path] = field(default_factory=list)  # check=True: linked but absent
    records: int = 0
    markers_added: bool = False  # the README had no leaderboard markers: the section went to its end
    gradebook_markers_added: bool = False  # the same for the gradebook section

    @property
    def stale(self) -> bool:
        return self.readme_changed or bool(self.missing_plots)


def render_section(
    records: list[LeaderboardRecord],
    course: Course | None,
    *,
    language: str | None = None,
    plot_links: dict[int, list[tuple[str, str]]] | None = None,
    templates: Path | None = None,
) -> str:
    """The Markdown between the markers. ``plot_links``: homework → [(kind, relative path)]."""
    from grader.leaderboard import tables
    from grader.report.templates import environment, find_templates, load_strings, md, tidy

    folder = find_templates(templates)
    s = load_strings(folder, language or (course.language if course else "ru"))
    homeworks = []
    for hw_id, group in _by_homework(records, course):
        frame = tables.homework_frame(group)
        if frame.empty:
            continue
        title = _title(hw_id, group, course, s.language)
        homeworks.append(
            {
                "heading": s("leaderboard.homework", homework=hw_id, title=md(title)),
                "rule": _rule_text(group, s),
                "table": tables.to_markdown(tables.display_frame(frame, group, s)),
                "notes": tables.unranked_notes(frame, group, s),
                "plots": [
                    {"alt": s(f"leaderboard.plot_{kind}"), "path": path}
                    for kind, path in (plot_links or {}).get(hw_id, [])
                ],
            }
        )
    stamps = sorted(r.source.graded_at for r in records if r.source.graded_at)
    footer = (
        s("leaderboard.updated", count=len(records), when=stamps[-1].replace("T", " ").replace("Z", " UTC"))
        if stamps
        else ""
    )
    text = (
        environment(folder).get_template("leaderboard.md.j2").render(t=s, homeworks=homeworks, footer=footer)
    )
    return tidy(text)


def update_leaderboard(
    results_dir: Path,
    readme: Path,
    plots_dir: Path,
    course: Course | None,
    *,
    language: str | None = None,
    check: bool = False,
    templates: Path | None = None,
) -> LeaderboardOutcome:
    """Regenerate the README section and the plots from the records (check=True: write nothing,
    report whether the README is stale or a linked plot is missing)."""
    from grader.leaderboard import plots as plotting
    from grader.leaderboard import tables
    from grader.leaderboard.readme import GRADEBOOK, LEADERBOARD, current_section, splice
    from grader.report.templates import find_templates, load_strings

    records = load_records(results_dir)
    s = load_strings(find_templates(templates), language or (course.language if course else "ru"))
    all_plots: list[plotting.Plot] = []
    links: dict[int, list[tuple[str, str]]] = {}
    for hw_id, group in _by_homework(records, course):
        frame = tables.homework_frame(group)
        if frame.empty:
            continue
        device = next((r.scoring.device for r in group if r.scoring is not None), "cpu")
        made = plotting.plot_homework(hw_id, frame, group, s, device=device, render=not check)
        all_plots += made
        links[hw_id] = [(p.kind, _relative(plots_dir / p.name, readme.parent)) for p in made]
    section = render_section(records, course, language=s.language, plot_links=links, templates=templates)
    grades = gradebook_section(records, load_attempts(results_dir), course, s)
    old = readme.read_text(encoding="utf-8") if readme.exists() else ""
    if readme.exists() and not old.strip():
        raise InputError([_empty_readme(readme)])
    new = splice(splice(old, section, str(readme)), grades, str(readme), GRADEBOOK, after=LEADERBOARD)
    outcome = LeaderboardOutcome(
        readme=readme,
        readme_changed=new != old,
        plots=[plots_dir / p.name for p in all_plots],
        records=len(records),
        markers_added=current_section(old) is None,
        gradebook_markers_added=current_section(old, GRADEBOOK) is None,
    )
    if check:
        outcome.missing_plots = [path for path in outcome.plots if not path.is_file()]
        return outcome
    if outcome.readme_changed:
        write_atomic(readme, new)  # killed mid-write, the README keeps its old text
    outcome.plots_written = plotting.write_plots(all_plots, plots_dir)
    return outcome


def gradebook_section(
    records: list[LeaderboardRecord], attempts: list[AttemptRecord], course: Course | None, s: Strings
) -> str:
    """The README's gradebook section: the gradebook's Markdown, in the course's language."""
    from grader.leaderboard.gradebook import build_gradebook, to_markdown

    return to_markdown(build_gradebook(records, attempts, course, s), s, intro="gradebook.readme_intro")


def _empty_readme(readme: Path) -> Finding:
    """An existing but empty README is what a truncating write killed halfway leaves: writing only
    the leaderboard into it would commit the loss of the course's text without a word."""
    return Finding(
        code="L003",
        location=Location(file=str(readme)),
        message="the README is empty; the leaderboard is not written into it",
        expected="the course's README, with or without the leaderboard markers",
        found="0 bytes" if readme.stat().st_size == 0 else "only blank lines",
        hint="restore it from git (`git checkout HEAD -- README.md`, or from the commit before it was "
        "emptied), then run `grader leaderboard` again",
    )


def _by_homework(
    records: list[LeaderboardRecord], course: Course | None
) -> list[tuple[int, list[LeaderboardRecord]]]:
    """Homeworks in the course's order (then any others by number), each with its records."""
    order = [hw.id for hw in course.homeworks] if course else []
    ids = sorted(
        {r.homework for r in records}, key=lambda i: (order.index(i) if i in order else len(order), i)
    )
    return [(i, [r for r in records if r.homework == i]) for i in ids]


def _title(hw_id: int, group: list[LeaderboardRecord], course: Course | None, language: str) -> str:
    homework = course.homework(hw_id) if course else None
    if homework is not None:
        return homework.title.get(language)  # type: ignore[arg-type]
    for record in group:
        if record.homework_title:
            return record.homework_title.get(language) or record.homework_title.get("en", "")
    return ""


def _rule_text(group: list[LeaderboardRecord], s: Strings) -> str:
    from grader.verify import formatting as fmt

    scoring = next(
        (r.scoring for r in sorted(group, key=lambda r: r.source.graded_at or "", reverse=True) if r.scoring),
        None,
    )
    if scoring is None:
        return s("rules.none")
    text = s(f"rules.{scoring.rule.value}", device=scoring.device.upper())
    if rule_for(scoring.rule).ranked and scoring.min_quality_retained is not None:
        text += " " + s("rules.gate", required=fmt.percent(scoring.min_quality_retained))
    return text


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()

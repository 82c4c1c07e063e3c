"""The report stage: a Grade rendered to Markdown (PR comment, job summary, check-run text).

Templates live in the course repository's top-level `templates/` (grader.report.templates says
how they are found); strings in Russian and English live in `templates/i18n/`. The language is
the one asked for, else the grade's (course.yaml `language`).
"""

from __future__ import annotations

from pathlib import Path

from grader.verify.models import Grade

__all__ = ["render_check_run", "render_comment", "render_summary"]

KINDS = {"comment": "pr_comment.md.j2", "summary": "job_summary.md.j2", "check-run": "check_run.md.j2"}


def _render(template: str, grade: Grade, language: str | None, templates: Path | None) -> str:
    from grader.report import view
    from grader.report.templates import environment, find_templates, load_strings, tidy

    folder = find_templates(templates)
    strings = load_strings(folder, language or grade.language or "ru")
    env = environment(folder)
    text = env.get_template(template).render(v=view.build(grade, strings), t=strings)
    return tidy(text)


def render_comment(grade: Grade, language: str | None = None, *, templates: Path | None = None) -> str:
    """The PR comment: verdict, the course's table, ratios, explanations, findings, score, runner."""
    return _render(KINDS["comment"], grade, language, templates)


def render_summary(grade: Grade, language: str | None = None, *, templates: Path | None = None) -> str:
    """The job summary ($GITHUB_STEP_SUMMARY): the comment's content plus every check in one table."""
    return _render(KINDS["summary"], grade, language, templates)


def render_check_run(
    grade: Grade, language: str | None = None, *, templates: Path | None = None
) -> tuple[str, str]:
    """(title, summary) for the check run's output."""
    from grader.report.templates import find_templates, load_strings
    from grader.report.view import VERDICT_ICONS

    folder = find_templates(templates)
    s = load_strings(folder, language or grade.language or "ru")
    verdict = s(f"verdict.{grade.verdict.value}.title")
    icon = VERDICT_ICONS[grade.verdict]
    if grade.team and grade.homework is not None:
        title = s("check_run.title", icon=icon, team=grade.team, homework=grade.homework, verdict=verdict)
    else:
        title = s("check_run.title_unknown", icon=icon, verdict=verdict)
    return title, _render(KINDS["check-run"], grade, language, templates)

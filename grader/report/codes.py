"""Finding codes of the report stage: R (templates and their strings)."""

from __future__ import annotations

from grader.codes import CodeDoc

CODES: list[CodeDoc] = [
    CodeDoc(
        "R001",
        "The report templates were not found",
        "grader report grade.json   # run outside the course repository",
        "Run the grader inside the course repository (it has templates/ next to course.yaml), or pass "
        "--templates path/to/templates. The folder needs pr_comment.md.j2, job_summary.md.j2, "
        "check_run.md.j2, leaderboard.md.j2 and i18n/ru.yaml + i18n/en.yaml.",
    ),
    CodeDoc(
        "R002",
        "No strings for the language, or the strings file is broken",
        "grader report grade.json --language de",
        "Use --language ru or --language en (or `language:` in course.yaml); restore "
        "templates/i18n/<language>.yaml from the repository if it was damaged.",
    ),
]

"""The gradebook's golden case: the leaderboard golden grades (tests/golden/cases.py) filed as a
course would see them, with a points rule and a deadline per homework and a few more attempts:

- ml_masters HW-2 is regraded a day later, after the deadline: the regrade replaces the record,
  and the submission is still on time (the head commit was first graded before the deadline);
- compressors HW-2's older PR #40 is collected after PR #44: it stays in the history only;
- compressors HW-2 (PR #44) is graded after the deadline: late, points × the late factor (and
  quantum's too, whose model is below the quality gate: 0 either way);
- HW-3's mismatching submission earns no points (its verdict is not in the rule's list).

Normalised: the grader's version and every grading time are fixed by tests/golden/cases.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from golden.cases import NOW, grade_pass, leaderboard_grades
from golden.factory import COURSE_DATA

from grader.course.model import Course
from grader.verify.models import Grade

POINTS = {
    1: {"rule": "flat", "points": 5},
    2: {
        "rule": "threshold",
        "thresholds": [{"score": 2, "points": 6}, {"score": 3, "points": 8}, {"score": 4, "points": 10}],
        "late_factor": 0.5,
    },
    3: {"rule": "linear", "low": 1, "high": 4, "points": 10},
    4: {"rule": "rank", "by_rank": [10, 8, 6], "otherwise": 4},
    5: {"rule": "linear", "low": 1, "high": 3, "points": 10},
    6: {"rule": "threshold", "thresholds": [{"score": 0.9, "points": 10}]},
}
DEADLINES = {2: "2025-03-14T11:00:00Z", 4: "2025-03-20T23:59:00+03:00"}


def gradebook_course() -> Course:
    homeworks = [
        {**hw, "points": POINTS[hw["id"]]}
        | ({"deadline": DEADLINES[hw["id"]]} if hw["id"] in DEADLINES else {})
        for hw in COURSE_DATA["homeworks"]
    ]
    return Course.model_validate({**COURSE_DATA, "homeworks": homeworks})


def gradebook_grades() -> list[Grade]:
    """In the order they are collected."""
    return [
        *leaderboard_grades(),
        grade_pass(now=NOW + timedelta(days=1)),  # /regrade of ml_masters' PR #42, after the deadline
        grade_pass(team="compressors", pr=40, now=NOW - timedelta(hours=1)),  # an older PR, collected late
    ]


# A course README with its own text around the generated sections (plots are not drawn here).
README = """# Model compression

The course's own text, kept as it is.

<!-- leaderboard:start -->
<!-- leaderboard:end -->

## Rules

More of the course's text, between the two sections.
"""


def gradebook_files(work_dir: Path) -> dict[str, str]:
    """Golden file name → content: the gradebook in both languages and as CSV, and the README
    with its leaderboard and gradebook sections, as `grader leaderboard` writes it."""
    from grader.leaderboard import collect, gradebook_section, render_section
    from grader.leaderboard.gradebook import to_csv, write_gradebook
    from grader.leaderboard.readme import GRADEBOOK, LEADERBOARD, splice
    from grader.leaderboard.records import load_attempts, load_records
    from grader.report.templates import find_templates, load_strings

    results = work_dir / "results"
    for grade in gradebook_grades():
        collect(grade, results)
    course = gradebook_course()
    out: dict[str, str] = {}
    records, attempts = load_records(results), load_attempts(results)
    for language in ("ru", "en"):
        files = write_gradebook(results, work_dir / language, course, language=language)
        out[f"gradebook.{language}.md"] = files.markdown.read_text(encoding="utf-8")
        out["gradebook.csv"] = to_csv(files.book)
        s = load_strings(find_templates(), language)
        board = splice(README, render_section(records, course, language=language))
        out[f"readme.{language}.md"] = splice(
            board, gradebook_section(records, attempts, course, s), markers=GRADEBOOK, after=LEADERBOARD
        )
    return out

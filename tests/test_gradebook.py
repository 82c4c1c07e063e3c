"""The gradebook (golden files in both languages and CSV), the points rules, and the history of
attempts that `grader collect` keeps (`grader history TEAM`).

Regenerate the golden files after an intended change, then review the diff:

    python -m tests.golden.gradebook.regen
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from golden.cases import NOW, grade_pass
from golden.gradebook.cases import gradebook_course, gradebook_files, gradebook_grades
from pydantic import ValidationError
from typer.testing import CliRunner

from grader.cli import app
from grader.course.model import Homework
from grader.leaderboard import collect, collect_record, load_records
from grader.leaderboard.gradebook import award, to_xlsx, write_gradebook
from grader.leaderboard.records import AttemptRecord, load_attempts, record_path

GOLDEN = Path(__file__).parent / "golden" / "gradebook"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return gradebook_files(tmp_path_factory.mktemp("gradebook"))


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("history") / "results"
    for grade in gradebook_grades():
        collect(grade, folder)
    return folder


# --- the golden files ------------------------------------------------------------------------------


def test_every_gradebook_golden_file_is_listed(rendered: dict[str, str]) -> None:
    on_disk = {p.name for p in GOLDEN.iterdir() if p.suffix in (".md", ".csv")}
    assert on_disk == set(rendered), "run `python -m tests.golden.gradebook.regen`"


@pytest.mark.parametrize(
    "name", ["gradebook.ru.md", "gradebook.en.md", "gradebook.csv", "readme.ru.md", "readme.en.md"]
)
def test_gradebook_golden_file(name: str, rendered: dict[str, str]) -> None:
    expected = (GOLDEN / name).read_text(encoding="utf-8")
    assert rendered[name] == expected, (
        f"{name} changed; if intended, run `python -m tests.golden.gradebook.regen`"
    )


def test_the_golden_gradebook_shows_what_its_cases_are_for(rendered: dict[str, str]) -> None:
    rows = {line.split(",")[0]: line.split(",") for line in rendered["gradebook.csv"].splitlines()}
    header = rows["team"]

    def value(team: str, column: str) -> str:
        return rows[team][header.index(column)]

    # A regrade after the deadline of a commit first graded before it: replaced, and on time.
    assert value("ml_masters", "hw2_late") == "no" and value("ml_masters", "hw2_attempts") == "2"
    assert value("ml_masters", "hw2_graded_at") == "2025-03-15T10:00:00Z"
    # Late: 8 points (≥ 3×) halved; the older PR collected later stayed history only.
    assert (value("compressors", "hw2_late"), value("compressors", "hw2_points")) == ("yes", "4")
    assert value("compressors", "hw2_pr") == "44" and value("compressors", "hw2_attempts") == "2"
    # A claim off earns nothing; Pareto places by the team's best model.
    assert value("compressors", "hw3_points") == "0"
    assert (value("ml_masters", "hw4_place"), value("ml_masters", "hw4_points")) == ("1", "10")
    assert value("ml_masters", "total_points") == "16"
    assert "| compressors | 4 (late) |" in rendered["gradebook.en.md"]
    assert "срок 2025-03-20 20:59:00 UTC" in rendered["gradebook.ru.md"]  # +03:00 shown in UTC


# --- the points rules -------------------------------------------------------------------------------


def _rule(data: dict):
    homework = Homework.model_validate(
        {"id": 1, "title": {"ru": "x", "en": "x"}, "methods": ["baseline"], "points": data}
    )
    assert homework.points is not None
    return homework.points


def test_points_rules() -> None:
    linear = _rule({"rule": "linear", "low": 1, "high": 4, "points": 10, "late_factor": 0.5})
    assert [award(linear, "pass", s, None, late=False) for s in (0.5, 1, 2.5, 4, 9)] == [0, 0, 5, 10, 10]
    assert award(linear, "pass", 2.5, None, late=True) == 2.5
    assert award(linear, "claims_mismatch", 4, None, late=False) == 0
    rank = _rule({"rule": "rank", "by_rank": [10, 8], "otherwise": 3})
    assert [award(rank, "pass", 1.0, p, late=False) for p in (1, 2, 3, None)] == [10, 8, 3, 0]
    steps = _rule({"rule": "threshold", "thresholds": [{"score": 3, "points": 8}, {"score": 2, "points": 6}]})
    assert [award(steps, "pass", s, None, late=False) for s in (1.9, 2, 3.5, None)] == [0, 6, 8, 0]
    flat = _rule({"rule": "flat", "points": 5, "verdicts": ["pass", "incomplete"]})
    assert award(flat, "incomplete", None, None, late=False) == 5
    assert award(flat, "inconclusive", None, None, late=False) == 0


def test_a_bad_points_rule_is_refused_with_its_reason() -> None:
    with pytest.raises(ValidationError, match="`high` must be above `low`"):
        _rule({"rule": "linear", "low": 4, "high": 1, "points": 10})
    with pytest.raises(ValidationError, match="rule"):
        _rule({"rule": "curve", "points": 10})


def test_a_bad_points_rule_in_course_yaml_is_a_located_finding(tmp_path: Path) -> None:
    course = (Path(__file__).parents[1] / "course.yaml").read_text(encoding="utf-8")
    broken = course.replace("points: {rule: flat, points: 5}", "points: {rule: flat, points: -5}", 1)
    assert broken != course
    (tmp_path / "course.yaml").write_text(broken, encoding="utf-8")
    result = CliRunner().invoke(
        app, ["gradebook", "--course", str(tmp_path / "course.yaml"), "--results", str(tmp_path / "r")]
    )
    assert result.exit_code == 2, result.output
    assert "course.yaml:" in result.output and "points" in result.output
    assert "Traceback" not in result.output


def test_without_openpyxl_there_is_no_xlsx_and_a_message(tmp_path: Path, results: Path) -> None:
    try:
        import openpyxl  # noqa: F401
    except ImportError:
        files = write_gradebook(results, tmp_path, gradebook_course(), language="en")
        assert files.xlsx is None and not (tmp_path / "gradebook.xlsx").exists()
        assert to_xlsx(files.book) is None
    else:
        files = write_gradebook(results, tmp_path, gradebook_course(), language="en")
        assert files.xlsx is not None and files.xlsx.read_bytes()[:2] == b"PK"


# --- the history of attempts ------------------------------------------------------------------------


def test_every_collected_grade_is_an_attempt_with_why(results: Path) -> None:
    attempts = {
        (a.team, a.homework, a.source.pr_number, a.source.graded_at): a for a in load_attempts(results)
    }
    regraded = attempts[("ml_masters", 2, 42, "2025-03-15T10:00:00Z")].collection
    assert (regraded.action, regraded.reason) == ("replaced", "regraded")
    assert regraded.other is not None and regraded.other.graded_at == "2025-03-14T10:00:00Z"
    older = attempts[("compressors", 2, 40, "2025-03-14T09:00:00Z")].collection
    assert (older.action, older.reason) == ("kept-newer", "older-pr")
    assert older.other is not None and older.other.pr_number == 44
    first = attempts[("ml_masters", 2, 42, "2025-03-14T10:00:00Z")].collection
    assert (first.action, first.reason) == ("created", "first")
    # The leaderboard still reads one current record per team and homework.
    current = {(r.team, r.homework): r.source.pr_number for r in load_records(results)}
    assert current[("compressors", 2)] == 44 and current[("ml_masters", 2)] == 42


def test_collecting_the_same_grade_again_adds_no_attempt(tmp_path: Path) -> None:
    grade = grade_pass()
    first = collect_record(grade, tmp_path)
    again = collect_record(grade, tmp_path)
    assert first.attempt is not None and again.action == "unchanged" and again.attempt is None
    assert len(list(tmp_path.glob("hw-2/history/ml_masters/*.json"))) == 1


def test_records_filed_before_history_existed_still_load(tmp_path: Path) -> None:
    collect(grade_pass(), tmp_path)
    shutil.rmtree(tmp_path / "hw-2" / "history")  # as an older grader left it
    (legacy,) = load_attempts(tmp_path)
    assert isinstance(legacy, AttemptRecord) and legacy.collection.reason == "first"
    assert load_records(tmp_path)[0].team == "ml_masters"
    assert record_path(tmp_path, "ml_masters", 2).is_file()


def test_history_command(results: Path) -> None:
    result = CliRunner().invoke(app, ["history", "ml_masters", "--results", str(results), "--language", "en"])
    assert result.exit_code == 0, result.output
    assert "replaced the grading of 2025-03-14 10:00:00 UTC: the same PR, graded again" in result.output
    assert "on the leaderboard" in result.output and "history" in result.output
    other = CliRunner().invoke(app, ["history", "compressors", "--results", str(results), "--language", "en"])
    assert "not filed: PR #44 (4b825dc) is newer" in other.output


def test_history_of_a_bad_or_unknown_team_says_so(results: Path) -> None:
    bad = CliRunner().invoke(app, ["history", "../etc", "--results", str(results)])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    assert "not a team name" in bad.output
    unknown = CliRunner().invoke(app, ["history", "nobody", "--results", str(results), "--language", "en"])
    assert unknown.exit_code == 0 and "No attempts of nobody" in unknown.output


def test_a_broken_attempt_is_a_located_finding(tmp_path: Path) -> None:
    collect(grade_pass(now=NOW), tmp_path)
    (attempt,) = tmp_path.glob("hw-2/history/ml_masters/*.json")
    attempt.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(app, ["history", "ml_masters", "--results", str(tmp_path)])
    assert result.exit_code == 2 and str(attempt) in result.output and "Traceback" not in result.output


# --- the gradebook section of the README ------------------------------------------------------------


def test_the_readme_gets_the_gradebook_in_the_courses_language_with_the_leaderboard(
    results: Path, tmp_path: Path
) -> None:
    from grader.leaderboard import update_leaderboard
    from grader.leaderboard.gradebook import build_gradebook, to_markdown
    from grader.report.templates import find_templates, load_strings

    readme = tmp_path / "README.md"
    readme.write_text("# Course\n\n<!-- leaderboard:start -->\n<!-- leaderboard:end -->\n\nAfter.\n", "utf-8")
    course = gradebook_course()
    assert course.language == "ru"
    first = update_leaderboard(results, readme, tmp_path / "plots", course)
    assert first.readme_changed and first.gradebook_markers_added and not first.markers_added
    text = readme.read_text(encoding="utf-8")
    # Right after the leaderboard, so the course's own text below stays below.
    assert text.index("<!-- leaderboard:end -->") < text.index("<!-- gradebook:start -->")
    assert text.endswith("<!-- gradebook:end -->\n\nAfter.\n")
    section = text[text.index("<!-- gradebook:start -->\n") + 25 : text.index("<!-- gradebook:end -->")]
    s = load_strings(find_templates(), "ru")
    book = build_gradebook(load_records(results), load_attempts(results), course, s)
    assert section == to_markdown(book, s, intro="gradebook.readme_intro")
    assert "## Ведомость" in section and "| ml_masters  | 6" in section  # points by the course's rule
    # Regenerating changes no byte; an edited section is stale and is put back.
    assert not update_leaderboard(results, readme, tmp_path / "plots", course).readme_changed
    readme.write_text(text.replace("16 из 30", "30 из 30"), encoding="utf-8")
    assert update_leaderboard(results, readme, tmp_path / "plots", course, check=True).readme_changed
    update_leaderboard(results, readme, tmp_path / "plots", course)
    assert readme.read_text(encoding="utf-8") == text


def test_broken_gradebook_markers_are_a_located_finding(results: Path, tmp_path: Path) -> None:
    from grader.errors import InputError
    from grader.leaderboard import update_leaderboard

    readme = tmp_path / "README.md"
    original = "# Course\n\ntext\n<!-- gradebook:start -->\nold\n"
    readme.write_text(original, encoding="utf-8")
    with pytest.raises(InputError) as error:
        update_leaderboard(results, readme, tmp_path / "plots", gradebook_course(), check=True)
    (finding,) = error.value.findings
    assert finding.code == "L001" and finding.location.line == 4 and "gradebook markers" in finding.message
    assert readme.read_text(encoding="utf-8") == original

"""course.yaml: the schema (grader.course) and the grader's own checks (`grader validate-course`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.course import load_course
from grader.errors import InputError
from grader.validate.course_checks import validate_course_file

REPO = Path(__file__).resolve().parents[1]
FIXTURE = Path(__file__).parent / "fixtures" / "manifests" / "course.yaml"

GOOD = """\
schema_version: 1
name: {ru: "Курс", en: "Course"}
tasks:
  text-classification:
    dataset: reviews
    params: {max_length: 64}
datasets:
  reviews:
    task: text-classification
    source: {builtin: sentiment-ru}
homeworks:
  - id: 1
    title: {ru: "Один", en: "One"}
    deadline: 2025-10-01T23:59:00+03:00
    methods: [baseline]
teams:
  a: {members: [alice]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "course.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def codes_and_lines(findings) -> list[tuple[str, int | None]]:
    return [(f.code, f.location.line) for f in findings]


@pytest.mark.parametrize("path", [REPO / "course.yaml", FIXTURE])
def test_the_repository_course_and_the_test_course_are_valid(path: Path) -> None:
    course, findings = validate_course_file(path)
    assert course is not None
    assert [f for f in findings if f.is_error] == []


def test_a_good_course_has_no_findings(tmp_path: Path) -> None:
    course, findings = validate_course_file(write(tmp_path, GOOD))
    assert course is not None and findings == []
    assert course.homework(1) is not None and course.homework(2) is None
    assert course.team_of("ALICE") == ["a"]


def test_schema_mistakes_are_located_and_all_reported(tmp_path: Path) -> None:
    text = GOOD.replace("schema_version: 1\n", "schema_version: 1\nlanguage: de\n").replace(
        "methods: [baseline]", "methods: [basline]"
    )
    with pytest.raises(InputError) as caught:
        load_course(write(tmp_path, text))
    found = codes_and_lines(caught.value.findings)
    assert ("S003", 2) in found  # language
    assert ("S003", 16) in found  # the misspelt method
    assert any("did you mean 'baseline'" in f.hint for f in caught.value.findings)


def test_duplicate_keys_in_the_course_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_course(write(tmp_path, GOOD + "teams:\n  b: {members: [bob]}\n"))
    assert codes_and_lines(caught.value.findings) == [("Y002", 18)]


MISMATCHED = """\
schema_version: 1
name: {ru: "Курс", en: "Course"}
tasks:
  text-classification:
    dataset: digits
  text-clasification:
    dataset: reviews
datasets:
  reviews:
    task: text-classification
    source: {builtin: sentiment-ru}
  digits:
    task: image-classification
    source: {builtin: digits-test}
homeworks:
  - {id: 1, title: {ru: "Один", en: "One"}, methods: [baseline]}
"""


def test_unknown_task_and_mismatched_dataset(tmp_path: Path) -> None:
    course, findings = validate_course_file(write(tmp_path, MISMATCHED))
    assert course is not None
    assert sorted(codes_and_lines(findings)) == [("C002", 6), ("C003", 5)]
    by_code = {f.code: f for f in findings}
    assert "did you mean 'text-classification'" in by_code["C002"].hint
    assert by_code["C003"].location.field == "tasks.text-classification.dataset"
    assert "image-classification" in by_code["C003"].message


def test_missing_dataset_file(tmp_path: Path) -> None:
    text = GOOD.replace(
        "source: {builtin: sentiment-ru}", f"source: {{path: data/eval.jsonl, sha256: {'a' * 64}}}"
    )
    _, findings = validate_course_file(write(tmp_path, text))
    assert codes_and_lines(findings) == [("C005", 10)]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "eval.jsonl").write_text("{}\n")
    assert validate_course_file(write(tmp_path, text))[1] == []


def test_warnings_shared_member_naive_deadline_unknown_param(tmp_path: Path) -> None:
    text = (
        GOOD.replace("+03:00", "")
        .replace("{max_length: 64}", "{max_lenght: 64}")
        .replace("  a: {members: [alice]}\n", "  a: {members: [alice]}\n  b: {members: [bob, Alice]}\n")
    )
    course, findings = validate_course_file(write(tmp_path, text))
    assert course is not None
    assert all(not f.is_error for f in findings)
    assert sorted(codes_and_lines(findings)) == [("C004", 18), ("C006", 14), ("C007", 6)]
    c007 = next(f for f in findings if f.code == "C007")
    assert "did you mean 'max_length'" in c007.hint


def test_validate_course_command_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["validate-course", str(write(tmp_path, GOOD))])
    assert ok.exit_code == 0, ok.output
    assert "valid" in ok.output
    broken = tmp_path / "broken" / "course.yaml"
    broken.parent.mkdir()
    broken.write_text(GOOD.replace("  - id: 1\n", "  - id: 1\n   x: 1\n"))
    result = runner.invoke(app, ["validate-course", str(broken)])
    assert result.exit_code == 2
    assert "Y001" in result.output and "Traceback" not in result.output

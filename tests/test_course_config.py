"""course.yaml: the schema (grader.course) and the grader's own checks (`grader validate-course`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_data import PINNED
from typer.testing import CliRunner

from grader.cli import app
from grader.course import load_course
from grader.errors import InputError
from grader.harness.data import load_eval_data
from grader.harness.tasks import TASKS
from grader.validate import validate_manifest
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


# --- the repository's course grades every task the grader implements ---------------------------


@pytest.mark.parametrize("task", sorted(TASKS))
def test_the_course_grades_every_registered_task_on_its_pinned_shipped_set(task: str) -> None:
    course = load_course(REPO / "course.yaml")
    assert task in course.tasks, f"course.yaml has no `tasks: {task}:` entry, so no team can submit one"
    dataset_id = course.tasks[task].dataset
    dataset = course.datasets[dataset_id]
    assert dataset.task == task
    # Data the grader ships: its files are pinned by grader/data/SHA256SUMS, its items by PINNED.
    assert dataset.source.builtin is not None
    assert load_eval_data(dataset_id, course, REPO).digest == PINNED[dataset.source.builtin]


def test_every_shipped_set_the_course_offers_is_the_pinned_one() -> None:
    course = load_course(REPO / "course.yaml")
    shipped = {name: d for name, d in course.datasets.items() if d.source.builtin}
    assert set(PINNED) <= {d.source.builtin for d in shipped.values()}  # English sets for `eval:` too
    for name, dataset in shipped.items():
        assert load_eval_data(name, course, REPO).digest == PINNED[dataset.source.builtin], name


BASELINE_ONLY = """\
schema_version: 1
team: ml_masters
homework: {homework}
task: {task}
baseline:
  name: base
  artifact: {{path: model/}}
"""


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_homework_takes_a_submission_of_every_task(tmp_path: Path, task: str) -> None:
    # Homeworks have no task list of their own (grader/course/model.py): a team keeps its model
    # all term, so each homework must accept each task the course grades, with no M004..M006.
    shutil.copy(REPO / "course.yaml", tmp_path / "course.yaml")
    course = load_course(tmp_path / "course.yaml")
    for homework in course.homeworks:
        manifest = tmp_path / "submissions" / "ml_masters" / f"hw-{homework.id}" / "submission.yaml"
        manifest.parent.mkdir(parents=True)
        manifest.write_text(BASELINE_ONLY.format(homework=homework.id, task=task), encoding="utf-8")
        result = validate_manifest(manifest, course, tmp_path)
        refused = [f for f in result.findings if f.code in ("M004", "M005", "M006")]
        assert refused == [], (homework.id, refused)

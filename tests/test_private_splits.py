"""Private eval sets: figures on a `visibility: private` set are measured like any other, but stay
out of everything public (PR comment, check run, job summary, grade JSON, leaderboard record, the
measurement a public artifact carries, the `grader measure` log) until the homework's deadline;
the instructors' grade keeps them. The documents are the golden cases' (tests/golden/cases.py),
graded by the real verify and rendered by the real report and leaderboard."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from golden.cases import NOW, PRIVATE_ACCURACY, private_run
from private_support import leaked

from grader.course.model import Course
from grader.harness.models import MeasurementRun
from grader.report import render_check_run, render_comment, render_summary
from grader.report.private import PRIVATE_GRADE, PRIVATE_SUMMARY
from grader.verify import verify
from grader.verify.models import Grade, MetricStatus, Verdict
from grader.verify.private import redact_measurement, withheld


def public_texts(grade: Grade, tmp_path: Path) -> list[str]:
    """Everything made from a public grade: comments, summaries, check runs, the grade JSON, the
    leaderboard record and README section."""
    from grader.leaderboard import collect, load_records, render_section

    texts = [grade.to_json()]
    for language in ("ru", "en"):
        texts += [render_comment(grade, language), render_summary(grade, language)]
        texts += list(render_check_run(grade, language))
    results = tmp_path / "results"
    record = collect(grade, results)
    texts.append(record.read_text(encoding="utf-8"))
    course = private_run()[1]
    for language in ("ru", "en"):
        texts.append(render_section(load_records(results), course, language=language, plot_links={}))
    return texts


def main_set_private(course: Course, deadline: datetime | None) -> Course:
    """The same course with the task's own eval set private (no separate private_eval)."""
    data = course.model_dump(mode="json")
    data["datasets"]["sentiment-ru"]["visibility"] = "private"
    for hw in data["homeworks"]:
        hw.pop("private_eval", None)
        if hw["id"] == 2:
            hw["deadline"] = deadline.isoformat() if deadline else None
    return Course.model_validate(data)


def private_main_run(run: MeasurementRun) -> MeasurementRun:
    """The run with its main quality results labelled private (as the harness labels a private set)."""
    copy = run.model_copy(deep=True)
    for m in copy.models:
        m.private_quality = None
        assert m.quality is not None
        m.quality.visibility = "private"
    return copy


# --- a homework's private_eval set ---------------------------------------------------------------------


def test_the_public_grade_withholds_the_private_set_and_says_so() -> None:
    run, course = private_run()
    grade = verify(run, course, now=NOW)
    assert grade.withheld == ["reviews-hidden"] and grade.private_dataset == "reviews-hidden"
    assert grade.withheld_until == "2025-03-24 10:00 UTC" and not grade.instructor_only
    assert all(e.measured.private_quality == {} for e in grade.entries)
    assert grade.verdict is Verdict.PASS  # the public figures were all reproduced
    comment = render_comment(grade, "en")
    assert "private eval set `reviews-hidden`" in comment and "2025-03-24 10:00 UTC" in comment
    assert "закрытой выборке" in render_comment(grade, "ru")
    _title, summary = render_check_run(grade, "en")
    assert "reviews-hidden" in summary


def test_private_figures_never_reach_public_text_before_the_deadline(tmp_path: Path) -> None:
    run, course = private_run()
    public = verify(run, course, now=NOW)
    texts = public_texts(public, tmp_path)
    texts.append(redact_measurement(run, withheld(run, course, NOW)).to_json())
    assert leaked(run, texts) == []
    # the check can see a leak: the instructors' documents hold every private figure
    instructors = verify(run, course, now=NOW, include_private=True)
    shown = [render_summary(instructors, "ru"), instructors.to_json(), run.to_json()]
    assert len(leaked(run, shown)) >= len(PRIVATE_ACCURACY)


def test_the_instructors_grade_keeps_every_figure_and_is_marked() -> None:
    run, course = private_run()
    grade = verify(run, course, now=NOW, include_private=True)
    assert grade.instructor_only and grade.withheld == [] and grade.withheld_until is None
    for e in grade.entries:
        assert e.measured.private_quality["accuracy"] == PRIVATE_ACCURACY[e.key]
    summary = render_summary(grade, "en")
    assert "Instructor-only" in summary and "Private eval set reviews-hidden" in summary
    assert "87.31 %" in summary and "86.14 %" in summary


def test_after_the_deadline_the_private_figures_are_public() -> None:
    run, course = private_run()
    deadline = course.homework(2).deadline  # type: ignore[union-attr]
    assert deadline is not None
    before = verify(run, course, now=deadline - timedelta(seconds=1))
    after = verify(run, course, now=deadline)
    assert before.withheld and not after.withheld and not after.instructor_only
    assert next(e for e in after.entries if e.is_baseline).measured.private_quality["accuracy"] == 0.8731
    assert "87.31 %" in render_comment(after, "en")


# --- the task's own eval set is private ----------------------------------------------------------------


def test_a_private_main_set_leaves_claims_unchecked_and_scores_ungiven_until_the_deadline(
    tmp_path: Path,
) -> None:
    golden, _ = private_run()
    run = private_main_run(golden)
    deadline = NOW + timedelta(days=3)
    course = main_set_private(private_run()[1], deadline)
    grade = verify(run, course, now=NOW)
    assert grade.withheld == ["sentiment-ru"] and grade.dataset == "sentiment-ru"
    for e in grade.entries:
        (check,) = [c for c in e.checks if c.metric == "quality.accuracy"]
        assert check.status is MetricStatus.UNVERIFIABLE and check.measured is None
        assert check.reason_note is not None and check.reason_note.key == "reason.withheld"
        assert check.claimed_raw is not None  # the claim is shown, unchecked
        assert e.measured.quality == {} and e.ratios.quality_retained is None
    int8 = next(e for e in grade.entries if not e.is_baseline)
    assert int8.score is None and int8.score_reason is not None and int8.score_reason.key == "score.withheld"
    assert grade.verdict is Verdict.PASS  # a withheld figure is neither off nor missing
    assert leaked(run, public_texts(grade, tmp_path)) == []

    after = verify(run, course, now=deadline)
    checks = [c for e in after.entries for c in e.checks if c.metric == "quality.accuracy"]
    assert {c.status for c in checks} == {MetricStatus.REPRODUCED}
    assert next(e for e in after.entries if not e.is_baseline).score is not None


def test_without_a_deadline_private_figures_wait_for_one() -> None:
    golden, _ = private_run()
    run = private_main_run(golden)
    course = main_set_private(private_run()[1], None)
    grade = verify(run, course, now=datetime(2999, 1, 1, tzinfo=UTC))
    assert grade.withheld == ["sentiment-ru"] and grade.withheld_until == ""  # no deadline yet
    check = next(c for e in grade.entries for c in e.checks if c.metric == "quality.accuracy")
    assert check.reason_note is not None and check.reason_note.key == "reason.withheld_open"
    assert "until they publish" in render_comment(grade, "en")


def test_a_private_set_that_failed_to_measure_stays_private() -> None:
    """No figure came back, but the set is still private: nothing is published as if it were public."""
    golden, course = private_run()
    run = golden.model_copy(deep=True)
    for m in run.models:
        m.private_quality = None
    assert withheld(run, course, NOW).datasets == ("reviews-hidden",)


# --- the course ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        ("nowhere", "is not defined under `datasets:`"),
        ("sentiment-ru", "must be a dataset with `visibility: private`"),
    ],
)
def test_private_eval_must_name_a_private_dataset(dataset: str, message: str) -> None:
    data = private_run()[1].model_dump(mode="json")
    data["homeworks"][1]["private_eval"] = dataset
    with pytest.raises(ValueError, match=message):
        Course.model_validate(data)


def test_a_private_eval_set_of_another_task_is_not_measured_for_this_one() -> None:
    """A homework open to several tasks: the private set applies to submissions of its own task."""
    course = private_run()[1]
    assert course.private_eval_for(2, "text-classification") == "reviews-hidden"
    assert course.private_eval_for(2, "causal-lm") is None
    assert course.private_eval_for(3, "text-classification") is None  # HW-3 names none


# --- the CLI and the measure log --------------------------------------------------------------------------


def _course_file(root: Path, deadline: datetime) -> Path:
    data = private_run()[1].model_dump(mode="json", exclude_none=True)
    data["homeworks"][1]["deadline"] = deadline.isoformat()
    path = root / "course.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _grader(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from grader.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_grader_verify_writes_the_public_grade_and_the_instructor_only_outputs(tmp_path: Path) -> None:
    run, _ = private_run()
    course_file = _course_file(tmp_path, datetime.now(UTC) + timedelta(days=30))
    measurement = run.write(tmp_path / "measurement.json")
    out, private, public = tmp_path / "grade.json", tmp_path / "private", tmp_path / "measurement.public.json"
    done = _grader(
        "verify",
        str(measurement),
        "--course",
        str(course_file),
        "--out",
        str(out),
        "--private-out",
        str(private),
        "--public-measurement",
        str(public),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    grade = Grade.read(out)
    assert grade.withheld == ["reviews-hidden"]
    texts = [out.read_text(encoding="utf-8"), public.read_text(encoding="utf-8"), done.stdout, done.stderr]
    assert leaked(run, texts) == []
    assert MeasurementRun.read(public).models[0].quality is not None  # the public figures stay
    instructors = Grade.read(private / PRIVATE_GRADE)
    assert instructors.instructor_only
    assert json.loads((private / PRIVATE_GRADE).read_text())["entries"][0]["measured"]["private_quality"]
    assert "87.31 %" in (private / PRIVATE_SUMMARY).read_text(encoding="utf-8")
    assert f"instructor-only: {private / PRIVATE_GRADE}" in done.stderr

    quiet = _grader("verify", str(measurement), "--course", str(course_file), "--out", str(out), cwd=tmp_path)
    assert quiet.returncode == 0 and "pass --private-out DIR" in quiet.stderr


def test_the_measure_log_never_prints_a_private_figure(capsys: pytest.CaptureFixture[str]) -> None:
    from grader.harness.command import print_measurement_summary

    golden, _ = private_run()
    run = private_main_run(golden)
    print_measurement_summary(run)
    captured = capsys.readouterr()
    assert "withheld" in captured.err
    assert leaked(run, [captured.out, captured.err]) == []

"""Speed claims graded end to end through `grader grade` (real subprocess measurements, paired
rounds, confidence intervals): the same model as baseline and candidate (A/A) reproduces a claim
of 1.0×; a model with eight times the layers is off for the same claim; the comment shows the
interval."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from harness_support import SAME_FILE_MANIFEST, make_vit

from grader.demo.run import write_course
from grader.harness.models import MeasurementRun
from grader.verify.models import Grade, MetricCheck, MetricStatus

MANIFEST = (
    SAME_FILE_MANIFEST
    + """\
  - name: eight times deeper
    method: quantization
    artifact: {path: deep/}
    claims: {speedup_cpu: 1.0x}
"""
)


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = tmp_path_factory.mktemp("repo")
    course = write_course(repo, "en")
    text = course.read_text(encoding="utf-8")
    # room for more rounds on a busy machine: the verdicts must not depend on a quiet one
    text = text.replace("budget_s: 20", "budget_s: 40")
    course.write_text(text, encoding="utf-8")
    hw = repo / "submissions" / "alpha" / "hw-2"
    make_vit(hw / "base", layers=1)
    make_vit(hw / "deep", layers=8)
    (hw / "submission.yaml").write_text(MANIFEST, encoding="utf-8")
    out = repo / "out"
    result = subprocess.run(
        [sys.executable, "-m", "grader", "grade", str(hw / "submission.yaml"), "--out", str(out)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr  # graded (not every metric claimed)
    return out


def _check(grade: Grade, name: str, metric: str) -> MetricCheck:
    entry = next(e for e in grade.entries if e.name == name)
    return next(c for c in entry.checks if c.metric == metric)


def test_the_same_file_reproduces_a_claim_of_one(graded: Path) -> None:
    grade = Grade.read(graded / "grade.json")
    check = _check(grade, "same file", "speedup_cpu")
    assert check.status is MetricStatus.REPRODUCED, check.reason
    assert check.interval is not None and check.interval.unit == "x"
    assert check.interval.low <= 1.0 <= check.interval.high or abs(check.interval.estimate - 1) < 0.05
    assert check.interval.low > 0.8 and check.interval.high < 1.25  # inside the ±20 % band


def test_a_model_eight_times_deeper_is_off_with_its_interval_outside_the_band(graded: Path) -> None:
    grade = Grade.read(graded / "grade.json")
    check = _check(grade, "eight times deeper", "speedup_cpu")
    assert check.status is MetricStatus.OFF, check.reason
    assert check.interval is not None and check.interval.high < 1.0 / 1.2
    entry = next(e for e in grade.entries if e.name == "eight times deeper")
    assert entry.ratios.speedup_cpu == pytest.approx(check.interval.estimate)


def test_the_rounds_pair_the_baseline_with_every_candidate(graded: Path) -> None:
    run = MeasurementRun.read(graded / "measurement.json")
    base = run.model("baseline")
    assert base is not None and base.devices["cpu"].latency is not None
    base_rounds = set(base.devices["cpu"].latency.round_numbers)
    for key in ("models[0]", "models[1]"):
        m = run.model(key)
        assert m is not None and m.devices["cpu"].latency is not None
        latency = m.devices["cpu"].latency
        assert len(latency.round_numbers) >= 6 and set(latency.round_numbers) <= base_rounds
        assert latency.speedup is not None and latency.speedup.rounds == len(latency.round_numbers)
        assert latency.stop_reason in ("decided", "budget", "max_rounds")


def test_the_comment_says_the_interval_and_the_rounds(graded: Path) -> None:
    comment = (graded / "comment.md").read_text(encoding="utf-8")
    assert "95 % CI" in comment and "rounds)" in comment

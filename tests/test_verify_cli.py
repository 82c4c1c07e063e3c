"""`grader verify` through the real CLI: exit 0 on pass, 1 otherwise, 2 on input it cannot read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from golden.cases import grade_mismatch
from golden.factory import (
    BERT_FP32,
    BERT_PARAMS,
    bert_baseline,
    cpu,
    entry,
    finding,
    make_course,
    model,
    no_cuda,
    quality,
    run,
    size_report,
    validated,
)

from grader.verify.models import Grade

CLAIMS = {"size": "438 MB", "latency_cpu": "21 ms", "ram": "610 MiB", "quality.accuracy": "91.2%"}


def _grader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from grader.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course repository: course.yaml at its root (the CLI finds it from the working directory)."""
    root = tmp_path_factory.mktemp("repo")
    (root / "course.yaml").write_text(
        yaml.safe_dump(make_course().model_dump(mode="json", exclude_none=True), allow_unicode=True),
        encoding="utf-8",
    )
    return root


def _measurement(size_claim: str) -> tuple[object, str]:
    entries = [
        entry("baseline", "base", CLAIMS),
        entry(
            "models[0]",
            "half",
            {"size": size_claim, "latency_cpu": "11 ms", "ram": "330 MiB", "quality.accuracy": "90.5%"},
        ),
    ]
    models = [
        bert_baseline(),
        model(
            "models[0]",
            "half",
            size=size_report(BERT_FP32 // 2, BERT_PARAMS),
            devices=[cpu(11.0, 330.0), no_cuda()],
            quality_result=quality(0.905, 0.9, 0.8),
        ),
    ]
    return run(validated("ml_masters", 2, entries), models), size_claim


def test_a_passing_measurement_exits_0_and_writes_the_grade(repo: Path) -> None:
    measurement, _ = _measurement("219 MB")
    path = measurement.write(repo / "pass.json")  # type: ignore[attr-defined]
    done = _grader("verify", str(path), "--out", str(repo / "grade.json"), cwd=repo)
    assert done.returncode == 0, done.stderr
    grade = Grade.read(repo / "grade.json")
    assert grade.verdict.value == "pass"
    assert "pass" in done.stderr


def test_a_mismatching_measurement_exits_1_and_prints_the_grade_json(repo: Path) -> None:
    measurement, _ = _measurement("150 MB")
    path = measurement.write(repo / "off.json")  # type: ignore[attr-defined]
    done = _grader("verify", str(path), cwd=repo)
    assert done.returncode == 1, done.stderr
    grade = Grade.from_data(json.loads(done.stdout))
    assert grade.verdict.value == "claims_mismatch"
    size = next(c for c in grade.entries[1].checks if c.metric == "size")
    assert size.status.value == "off"


def test_an_invalid_validated_submission_becomes_an_invalid_grade(repo: Path) -> None:
    bad = validated(
        "quantum",
        2,
        [],
        findings=[finding("S002", 14, "unknown field `claim`", field="models[0].claim")],
        ok=False,
    )
    path = bad.write(repo / "validated-bad.json")
    done = _grader("verify", str(path), "--out", str(repo / "invalid.json"), cwd=repo)
    assert done.returncode == 1, done.stderr
    grade = Grade.read(repo / "invalid.json")
    assert grade.verdict.value == "invalid"
    assert [f.code for f in grade.findings] == ["S002"]


def test_a_valid_submission_must_be_measured_first(repo: Path) -> None:
    good = validated("ml_masters", 2, [entry("baseline", "base", CLAIMS), entry("models[0]", "half", CLAIMS)])
    path = good.write(repo / "validated-good.json")
    done = _grader("verify", str(path), cwd=repo)
    assert done.returncode == 2
    assert "V001" in done.stderr and "grader measure" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_wrong_document_or_a_broken_file_exits_2(repo: Path) -> None:
    grade_path = grade_mismatch().write(repo / "a-grade.json")
    wrong = _grader("verify", str(grade_path), cwd=repo)
    assert wrong.returncode == 2 and "D002" in wrong.stderr
    missing = _grader("verify", str(repo / "nope.json"), cwd=repo)
    assert missing.returncode == 2 and "D001" in missing.stderr
    assert "Traceback" not in wrong.stderr + missing.stderr

"""`grader eval-data` run as a real subprocess, in a course repository made by the test."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

COURSE_YAML = """\
schema_version: 1
name: {ru: Тест, en: Test}
homeworks:
  - id: 1
    title: {ru: ДЗ, en: HW}
    methods: [baseline]
datasets:
  reviews:
    task: text-classification
    source: {path: data/reviews.jsonl, sha256: %s}
    labels: [bad, good]
    limit: 3
"""


def grader(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from grader.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def make_repo(root: Path) -> str:
    (root / "data").mkdir()
    lines = "".join(json.dumps({"text": f"text {i}", "label": i % 2}) + "\n" for i in range(8))
    (root / "data" / "reviews.jsonl").write_text(lines, encoding="utf-8")
    digest = hashlib.sha256(lines.encode()).hexdigest()
    (root / "course.yaml").write_text(COURSE_YAML % digest, encoding="utf-8")
    return digest


def test_sha256_prints_the_digest_to_pin(tmp_path: Path) -> None:
    digest = make_repo(tmp_path)
    done = grader("eval-data", "sha256", "data/reviews.jsonl", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == digest
    missing = grader("eval-data", "sha256", "data/nope.jsonl", cwd=tmp_path)
    assert missing.returncode == 2 and "E002" in missing.stderr and "Traceback" not in missing.stderr


def test_show_summarises_the_sample(tmp_path: Path) -> None:
    make_repo(tmp_path)
    done = grader("eval-data", "show", "reviews", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["n"], summary["total"], summary["seed"]) == (3, 8, 0)
    assert summary["labels"] == ["bad", "good"] and summary["digest"].startswith("sha256:")
    text = grader("eval-data", "show", "reviews", "--items", "2", cwd=tmp_path)
    assert "3 items (a sample of 8, seed 0)" in text.stdout and summary["digest"] in text.stdout


def test_a_changed_file_fails_with_a_located_finding(tmp_path: Path) -> None:
    make_repo(tmp_path)
    with (tmp_path / "data" / "reviews.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps({"text": "new", "label": 1}) + "\n")
    done = grader("eval-data", "show", "reviews", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "E003" in done.stderr and "datasets.reviews.source.sha256" in done.stderr
    assert "grader eval-data sha256" in done.stderr

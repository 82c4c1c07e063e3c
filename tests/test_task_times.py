"""benchmarks/task_times.py runs against the current tasks and prints its table (figures of this
run mean little on a shared machine; the script itself is the measurement)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ARGS = ["--tasks", "image-classification,causal-lm", "--repeats", "1"]


@pytest.mark.slow
def test_the_task_timing_table_is_printed() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "task_times.py"), *ARGS],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    number = r"([0-9]+\.[0-9]+) s"
    rows = re.findall(
        rf"^\| ([a-z-]+) \| ([a-z-]+) \| (\d+) \| {number} \| {number} \| {number} \|", done.stdout, re.M
    )
    assert [(task, dataset, items) for task, dataset, items, *_ in rows] == [
        ("image-classification", "digits-test", "450"),
        ("causal-lm", "lm-en", "12"),
    ]
    assert all(float(seconds) > 0 for *_, transformers, onnx in rows for seconds in (transformers, onnx))
    assert re.search(r"TTFT [0-9.]+ ms, TPOT [0-9.]+ ms/token", done.stdout)

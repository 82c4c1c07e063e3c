"""scripts/gpu-check.sh: its syntax, its arguments, its preflight, and its CPU dry run end to end.

The dry run is the same script as on the GPU machine: it builds the model, measures it through
`measure_submission`, runs onnxruntime's TensorRT provider in real children and `grader selftest
--device cuda`; without a GPU every GPU path must come back with its reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.harness.models import MeasurementRun, Status

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu-check.sh"


def run_script(
    *args: str, python: str = sys.executable, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": python}
    env.pop("OUT", None)
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def test_the_script_parses_and_is_executable() -> None:
    assert os.access(SCRIPT, os.X_OK)
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True, timeout=30)
    if shutil.which("shellcheck"):
        subprocess.run(["shellcheck", str(SCRIPT)], check=True, timeout=60)


def test_help_and_a_wrong_argument() -> None:
    usage = run_script("--help")
    assert usage.returncode == 0 and "--cpu-dry-run" in usage.stdout and ".whl/" in usage.stdout
    wrong = run_script("--gpu-please")
    assert wrong.returncode == 2 and "unknown argument '--gpu-please'" in wrong.stderr


def test_a_python_without_the_dependencies_is_named_before_anything_runs(tmp_path: Path) -> None:
    bare = tmp_path / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')  # -S: no site-packages
    bare.chmod(0o755)
    done = run_script("--cpu-dry-run", "--out", str(tmp_path / "out"), python=str(bare))
    assert done.returncode == 2, done.stderr
    assert "cannot import what the check needs" in done.stderr
    assert "  - torch (ModuleNotFoundError" in done.stderr and "carry the wheels in .whl/" in done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_cpu_dry_run_reports_every_path(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_script("--cpu-dry-run", "--out", str(out), timeout=420)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = (out / "gpu-check.txt").read_text(encoding="utf-8")
    assert report == done.stdout  # the file is the block that was printed
    for section in (
        "== model ==",
        "== measurements on cpu, cuda",
        "TensorRT execution provider",
        "== grader selftest --device cuda ==",
        "OK: every path gave its figures or its reason",
    ):
        assert section in report
    run = MeasurementRun.read(out / "measurement.json")
    names = [m.name for m in run.models]
    assert names == ["torch fp32", "torch fp16", "torch dynamic-int8", "onnxruntime", "tensorrt"]
    for model in run.models:
        cuda = model.devices["cuda"]
        assert cuda.status is Status.NOT_MEASURABLE and cuda.reason
        assert f"  cuda: NOT_MEASURABLE — {cuda.reason}" in report
    for model in run.models[:4]:
        cpu = model.devices["cpu"]
        assert cpu.status is Status.OK and cpu.latency is not None and cpu.memory is not None
        assert cpu.latency.timer == "perf_counter"
    assert "TensorRT runs on NVIDIA GPUs only" in run.models[4].devices["cpu"].reason
    assert "  memory: not_measurable — " in report and "  latency: not_measurable — " in report
    assert "no CUDA device: skipped" in report and "(exit 3)" in report
    assert "no CUDA device: skipped" in (out / "selftest.txt").read_text(encoding="utf-8")
    assert json.loads((out / "measurement.json").read_text())["kind"] == "measurement-run"


def test_both_modes_course_and_submission_are_valid() -> None:
    """The GPU mode's settings are only used on a GPU machine: check they validate here."""
    from grader.harness.gpu_check import ENTRIES, _course, _submission

    for dry, devices in ((False, ["cuda"]), (True, ["cpu", "cuda"])):
        course = _course(dry, devices)
        assert course.runner.devices == devices
        assert course.runner.latency.max_time_s <= 3.0  # the whole check stays within its budget
    submission = _submission()
    assert [entry.entry.name for entry in submission.entries] == [name for name, _, _ in ENTRIES]
    assert submission.entries[0].key == "baseline"
    assert [entry.entry.format for entry in submission.entries][-2:] == ["onnx", "tensorrt"]

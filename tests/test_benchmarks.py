"""Each benchmark script runs end to end with its smallest settings and prints its figures.
(task_times.py has its own smoke test, tests/test_task_times.py, with the task tests.)

The figures of these runs mean little (short timing bounds, a shared machine): the targets are
checked by running the scripts themselves (see their docstrings). What is checked here is that
they still run against the current harness and print every figure they promise, with values that
are at least physically sensible.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
NUMBER = r"([0-9]+(?:\.[0-9]+)?)"


def run_script(name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / name), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=timeout,
        check=False,
    )


def figures(pattern: str, text: str) -> list[tuple[str, ...]]:
    found = re.findall(pattern, text)
    assert found, f"no line matches {pattern!r} in:\n{text}"
    return found


def test_size_scan_reads_the_checkpoint_it_wrote() -> None:
    done = run_script("size_scan.py", "--layers", "1", "--runs", "1")
    assert done.returncode == 0, done.stderr
    size = int(figures(r"checkpoint: [0-9.]+ MB \(([0-9,]+) bytes\)", done.stdout)[0].replace(",", ""))
    params = figures(r"params ([0-9,]+)", done.stdout)
    # a 30522×1024 embedding and one block of 4 attention matrices, two feed-forward ones, biases, a norm
    expected = 30522 * 1024 + 4 * (1024 * 1024 + 1024) + 2 * 4096 * 1024 + 4096 + 1024 + 1024
    assert [int(p.replace(",", "")) for p in params] == [expected, expected]
    assert size > expected * 4  # the fp32 bytes plus the header
    zstd = float(figures(r"zstd-3 " + NUMBER + " MB", done.stdout)[0])
    assert 0 < zstd * 1e6 < size  # random fp32 still loses its zero exponent bits


def test_memory_calibration_reads_known_allocations_and_a_model() -> None:
    done = run_script("memory_calibration.py", "--sizes", "32", "--model", "tiny-bert")
    assert done.returncode == 0, done.stderr
    readings = figures(r"alloc +32 MiB, (forked|fresh) *: read +" + NUMBER + r" MiB", done.stdout)
    assert {how for how, _ in readings} == {"forked", "fresh"}
    for _, read in readings:
        assert abs(float(read) - 32) / 32 < 0.10  # the 3 % target is the runner tests'; this is a smoke run
    assert "worst calibration error" in done.stdout and "load average" in done.stdout
    weights = float(figures(r"tiny-bert weights " + NUMBER + " MiB", done.stdout)[0])
    assert 7 < weights < 9  # 30522 × 64 embeddings and two small layers, fp32
    model = figures(r"tiny-bert memory phase, (forked|fresh): peak above interpreter " + NUMBER, done.stdout)
    assert {how for how, _ in model} == {"forked", "fresh"}
    assert all(0 < float(mib) < 200 for _, mib in model)


@pytest.mark.slow
def test_harness_overhead_prints_the_ratio() -> None:
    done = run_script("harness_overhead.py", "--models", "tiny-bert", "--pairs", "1", "--quick")
    assert done.returncode == 0, done.stderr
    bare, harness, calls = figures(
        r"tiny-bert pair 1 \(harness first\): bare "
        + NUMBER
        + " ms, harness "
        + NUMBER
        + r" ms \((\d+) calls",
        done.stdout,
    )[0]
    assert float(bare) > 0 and float(harness) > 0 and int(calls) >= 10  # QUICK_LATENCY's min_iters
    ratio = float(figures(r"tiny-bert: harness / bare = " + NUMBER, done.stdout)[0])
    assert ratio == pytest.approx(float(harness) / float(bare), rel=1e-3)


@pytest.mark.slow
def test_harness_stability_prints_models_and_machine_probes() -> None:
    done = run_script("harness_stability.py", "--runs", "2", "--models", "vit-onnx", "--quick")
    assert done.returncode == 0, done.stderr
    per_run = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    assert set(per_run) == {
        "vit (onnxruntime)",
        "busy-wait 1 ms, 1 thread (machine)",
        *(f"{kind}, {n} threads (machine)" for kind in ("compute", "memory") for n in _intra_op()),
    }
    assert all(len(medians) == 2 and min(medians) > 0 for medians in per_run.values())
    # the busy-wait spins 1 ms per call, timed like a model: its median cannot be shorter
    assert min(per_run["busy-wait 1 ms, 1 thread (machine)"]) >= 1.0
    assert len(figures(r"CV of 2 run medians " + NUMBER + "%", done.stdout)) == len(per_run)
    assert len(figures(r"the machine was \d+% busy", done.stdout)) == 2


def _intra_op() -> list[int]:
    from grader.course import load_course
    from grader.harness.environment import ThreadPlan

    return [ThreadPlan.from_course(load_course(REPO / "course.yaml").runner.threads).intra_op]


@pytest.mark.slow
def test_vs_optimum_benchmark_reports_an_install_failure_verbatim(tmp_path: Path) -> None:
    done = run_script(
        "vs_optimum_benchmark.py",
        *("--venv", str(tmp_path / "venv"), "--models", "tiny-bert", "--quick"),
        "--ob-spec=optimum-benchmark==0.0.1",  # no such release: pip says so at once
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "optimum-benchmark==0.0.1 could not be installed or imported here" in done.stdout
    assert "No matching distribution found for optimum-benchmark==0.0.1" in done.stdout  # pip's own words
    # the harness's side is measured and printed all the same
    assert float(figures(r"latency, harness: median " + NUMBER + " ms", done.stdout)[0]) > 0
    above = float(figures(r"; " + NUMBER + r" MiB above the child's RSS before loading", done.stdout)[0])
    assert above > 0
    assert figures(r"wall time, harness: " + NUMBER + " s", done.stdout)


@pytest.mark.slow
def test_vs_optimum_benchmark_runs_optimum_benchmark(tmp_path: Path) -> None:
    """The real comparison on the tiny model: a venv with optimum-benchmark 0.6.0 and the
    transformers it still imports with (4.57), then both tools on the same files."""
    done = run_script(
        "vs_optimum_benchmark.py",
        *("--venv", str(tmp_path / "venv"), "--models", "tiny-bert", "--quick"),
        "--transformers=transformers>=4.57,<5",
        timeout=1200,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"optimum-benchmark: optimum-benchmark==0\.6\.0 with transformers 4\.57\.\d+", out), out
    ob_latency = float(figures(r"latency, optimum-benchmark: p50 " + NUMBER + " ms", out)[0])
    ours_latency = float(figures(r"latency, harness: median " + NUMBER + " ms", out)[0])
    assert ob_latency > 0 and ours_latency > 0
    ob_ram = float(figures(r"peak RAM, optimum-benchmark: " + NUMBER + " MB", out)[0])
    ours_ram, above = (
        float(x) for x in figures(r"peak RAM, harness: " + NUMBER + r" MiB .*?; " + NUMBER, out)[0]
    )
    # both absolute peaks hold an interpreter with torch and transformers: hundreds of MB
    assert ob_ram > 200 and ours_ram > 200
    assert 0 < above < ours_ram  # the graded figure leaves the interpreter out
    assert len(figures(r"latency, bare loop \(([^)]*)\)", out)) == 2  # both venvs' bare loops
    assert len(figures(r"wall time, (harness|optimum-benchmark): " + NUMBER + " s", out)) == 2


@pytest.mark.slow
def test_speed_verdicts_grades_each_case_and_prints_its_tally() -> None:
    done = run_script("speed_verdicts.py", "--quick")
    assert done.returncode == 0, done.stderr
    # each pair's ratio by the grader's figure (quietest block), then by the plain median
    pair = NUMBER + r"x \(" + NUMBER + r"x\)"
    ratios = figures(r"PyTorch → ONNX " + pair + r", 2 → 4 layers " + pair, done.stdout)
    to_onnx, onnx_median, to_deep, deep_median = (float(v) for v in ratios[0])
    assert to_onnx > 1.5 and onnx_median > 1.5  # ONNX is faster, by either figure
    assert 0.3 < to_deep < 0.95 and 0.3 < deep_median < 0.95  # twice the layers is slower
    tallies = figures(r"(A/A|ViT PyTorch → its ONNX|ViT → twice the layers)[^:]*: claim ", done.stdout)
    assert len(tallies) == 3
    assert (
        "off 1" not in done.stdout.split("bare-loop", 1)[1].split("cost:")[0].split("A/A")[1].split("\n")[0]
    )
    assert len(figures(r"CI half-width median " + NUMBER + "%", done.stdout)) == 3
    assert len(figures(r"the previous schedule \(2 rounds, old windows\) took " + NUMBER, done.stdout)) == 1

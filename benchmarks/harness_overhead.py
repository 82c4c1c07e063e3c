"""Harness timing overhead: the harness's latency median against a bare perf_counter loop.

    python benchmarks/harness_overhead.py [--models vit,bert-base] [--pairs 3] [--threads N] [--quick]

For each model, `--pairs` pairs of runs, the order alternating inside each pair (harness first,
then bare first, ...) so that a drift of the machine does not favour one side:

- bare: a fresh `python -c` process loads the model with transformers, warms it up, and times
  `model(**inputs)` inside one `torch.inference_mode()` block with `time.perf_counter()` around
  each call, as a student's notebook would;
- harness: a latency child forked from the harness's zygote (grader.harness.runner), the course's
  adaptive warm-up and stopping rule, timing `backend.run()` + `backend.synchronize()` with
  `perf_counter_ns`.

Both use the same inputs, the same thread counts (torch.set_num_threads and OMP/MKL from the
course's ThreadPlan), the same weights and the same number of timed calls (the bare loop times as
many calls as the harness did). The figure is median(harness medians) / median(bare medians);
the target is <= 1.03. Models: see benchmarks/common.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import REPO, BenchModel, build_model, course_latency
from common import load_text as load

BARE = r"""
import json, statistics, sys, time
import numpy as np, torch
from transformers import AutoModelForSequenceClassification, AutoModelForImageClassification
folder, inputs_file, task = sys.argv[1], sys.argv[2], sys.argv[3]
warmup, iters = int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(int(sys.argv[6]))
image = task == "image-classification"
cls = AutoModelForImageClassification if image else AutoModelForSequenceClassification
model = cls.from_pretrained(folder).eval()
with np.load(inputs_file) as data:
    inputs = {k: torch.from_numpy(data[k]) for k in data.files}
samples = []
with torch.inference_mode():
    for _ in range(warmup):
        model(**inputs)
    for _ in range(iters):
        start = time.perf_counter()
        model(**inputs)
        samples.append((time.perf_counter() - start) * 1000)
print(json.dumps({"median_ms": statistics.median(samples), "n": len(samples)}))
"""


def bare(model: BenchModel, env: dict[str, str], threads: int, iters: int) -> float:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            BARE,
            str(model.folder),
            str(model.inputs),
            model.task,
            str(max(10, iters // 5)),
            str(iters),
            str(threads),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=1800,
    )
    if done.returncode != 0:
        raise SystemExit(f"the bare loop failed:\n{done.stderr[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["median_ms"])


def harness(runner: Any, model: BenchModel, settings: Any, threads: int) -> list[float]:
    from grader.harness.backends.transformers import TransformersBackend
    from grader.harness.jobs import Limits, PhaseJob

    job = PhaseJob(
        phase="latency",
        backend="transformers",
        model_dir=str(model.folder),
        format="safetensors",
        task=model.task,
        inputs_file=str(model.inputs),
        intra_op_threads=threads,
        inter_op_threads=1,
        latency=settings,
    )
    outcome = runner.run(job, Limits(timeout_s=1800), preload=TransformersBackend.preload)
    if not outcome.ok or outcome.report is None or outcome.report.timing is None:
        raise SystemExit(f"harness run failed: {outcome.reason}\n{outcome.stderr_tail}")
    return outcome.report.timing.samples_ms


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="vit,bert-base")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: course.yaml's)")
    parser.add_argument("--quick", action="store_true", help="short timing bounds (smoke tests)")
    args = parser.parse_args()

    from grader.course import load_course
    from grader.course.model import Threads
    from grader.harness.environment import ThreadPlan
    from grader.harness.runner import Runner

    course = load_course(REPO / "course.yaml")
    requested = course.runner.threads if args.threads is None else Threads(intra_op=args.threads, inter_op=1)
    plan = ThreadPlan.from_course(requested)
    env = {**os.environ, **plan.env()}
    settings = course_latency(args.quick)
    print(f"intra-op threads {plan.intra_op}; harness latency settings {settings.model_dump()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        root = Path(tmp)
        models = [build_model(name, root) for name in args.models.split(",")]
        (root / "work").mkdir()
        with Runner(root / "work", plan.env()) as runner:
            for model in models:
                bare_medians: list[float] = []
                harness_medians: list[float] = []
                for pair in range(args.pairs):
                    started = load()
                    if pair % 2 == 0:
                        samples = harness(runner, model, settings, plan.intra_op)
                        bare_medians.append(bare(model, env, plan.intra_op, len(samples)))
                    else:  # the bare loop needs the call count: the previous pair's
                        bare_medians.append(bare(model, env, plan.intra_op, len(samples)))
                        samples = harness(runner, model, settings, plan.intra_op)
                    harness_medians.append(statistics.median(samples))
                    first = "harness first" if pair % 2 == 0 else "bare first"
                    print(
                        f"{model.name} pair {pair + 1} ({first}): "
                        f"bare {bare_medians[-1]:.4f} ms, harness {harness_medians[-1]:.4f} ms "
                        f"({len(samples)} calls each); {started}",
                        flush=True,
                    )
                ratio = statistics.median(harness_medians) / statistics.median(bare_medians)
                # Each pair's own ratio: its two runs are seconds apart, so a machine whose load
                # changes between pairs moves both sides of a pair together.
                paired = statistics.median(h / b for h, b in zip(harness_medians, bare_medians, strict=True))
                verdict = "ok" if ratio <= 1.03 else "ABOVE TARGET"
                print(
                    f"{model.name}: harness / bare = {ratio:.4f} (target <= 1.03: {verdict}); "
                    f"median of the per-pair ratios {paired:.4f}; "
                    f"medians of {args.pairs} pairs: harness {statistics.median(harness_medians):.4f} ms, "
                    f"bare {statistics.median(bare_medians):.4f} ms; now {load()}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

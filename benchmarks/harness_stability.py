"""Run-to-run stability: the same model measured in separate `grader measure`-style runs, with the
machine's own noise measured the same way alongside.

    python benchmarks/harness_stability.py [--runs 5] [--models vit,vit-onnx] [--threads N] [--quick]

A run does what one `grader measure` does for a model's latency: a fresh Runner (fresh zygotes),
the course's `speed.min_rounds` latency children interleaved with the other items (A B C … A B C …), each
with the course's latency settings and thread plan; the run's figure is the median of its merged
samples (the median a grade reports). Stability is the CV (std / mean) of the `--runs` figures.
Target: <= 3 % on an idle CPU.

The machine's own noise, measured in every run the same way (a fresh process per round, the same
`grader.harness.timing.measure`, the same settings and thread environment):
- `busy-wait, 1 thread`: a 1 ms spin. It needs one free CPU, so it cannot see contention that
  hurts an N-thread model: the old script showed only this line (0.00 % while torch ViT on 2
  threads swung by 14-180 % under one or two competing processes);
- `compute, N threads`: a 384×384 fp32 matmul on torch's intra-op pool, fork-join like a model;
- `memory, N threads`: copying 64 MiB (beyond the caches) with torch on N threads.
A model's CV well above these probes' CV is the harness's own; at or below them it is the machine.

When the children's own medians fall into two groups, the script says so ("two modes"): the CV
then counts children that landed in the slow mode, not timing noise. That is what the earlier
"ViT (onnxruntime) 30 %" was: with the course's threads capped to this machine's 2 CPUs,
onnxruntime's intra-op pool keeps its worker spinning between calls, and each process settles in a
fast (~0.059 ms) or a slow (~0.089 ms, ×1.5) mode for its whole life; plain subprocesses without
the harness show the same split (1 in 4 slow on a quiet machine, more under load), the timer is
not involved (1 ns resolution, 0.07 µs per timed empty call), and with `--threads 1` the same
children are unimodal (CV 0.65 %) and faster (0.049 ms).

Items: `vit` (the demo's ViT, transformers), `vit-onnx` (its ONNX export, onnxruntime),
`bert-base` (transformers). `--quick`: short timing bounds and one round, for smoke tests only.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import REPO, build_model, busy_share, course_latency, course_rounds, cpu_times, cv, export_onnx
from common import load_text as load

NOISE_PROBE = r"""
import sys, time
from grader.course.model import LatencySettings
from grader.harness.timing import measure

kind, threads = sys.argv[1], int(sys.argv[2])
settings = LatencySettings.model_validate_json(sys.argv[3])
if kind == "spin":
    clock, spin_ns = time.perf_counter_ns, 1_000_000

    def call():
        end = clock() + spin_ns
        while clock() < end:
            pass
else:
    import torch

    torch.set_num_threads(threads)
    if kind == "compute":
        a, b, out = torch.randn(384, 384), torch.randn(384, 384), torch.empty(384, 384)

        def call():
            torch.mm(a, b, out=out)
    else:
        src = torch.ones(16 * 2**20)  # 64 MiB of fp32
        dst = torch.empty_like(src)

        def call():
            dst.copy_(src)
print(measure(call, settings).model_dump_json())
"""


@dataclass
class Item:
    label: str
    kind: str  # "model" or "probe"
    job: Any = None  # the PhaseJob of a model
    preload: tuple[str, ...] = ()
    probe: str = ""  # spin / compute / memory
    figures: list[float] = field(default_factory=list)  # one median per run
    noise: list[float] = field(default_factory=list)  # per run: the median's CI half-width over its rounds
    windows: list[float] = field(default_factory=list)  # seconds of timed calls per round
    stops: list[str] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)  # every child's own median, all runs


def model_items(names: list[str], root: Path, settings: Any, threads: int) -> list[Item]:
    from grader.harness.backends import BACKENDS
    from grader.harness.jobs import PhaseJob

    items = []
    built: dict[str, Any] = {}
    for name in names:
        base = "vit" if name == "vit-onnx" else name
        model = built.setdefault(base, build_model(base, root))
        if name == "vit-onnx":
            onnx = export_onnx(model, root / "vit-onnx")
            backend, folder, fmt, label = "onnxruntime", onnx.parent, "onnx", "vit (onnxruntime)"
        else:
            backend, folder, fmt, label = (
                "transformers",
                model.folder,
                "safetensors",
                f"{name} (transformers)",
            )
        job = PhaseJob(
            phase="latency",
            backend=backend,
            model_dir=str(folder),
            format=fmt,
            task=model.task if backend == "transformers" else None,
            inputs_file=str(model.inputs),
            latency=settings,
            intra_op_threads=threads,
            inter_op_threads=1,
        )
        items.append(Item(label=label, kind="model", job=job, preload=BACKENDS.load(backend).preload))
    return items


def probe_items(threads: int) -> list[Item]:
    return [
        Item(label="busy-wait 1 ms, 1 thread (machine)", kind="probe", probe="spin"),
        Item(label=f"compute, {threads} threads (machine)", kind="probe", probe="compute"),
        Item(label=f"memory, {threads} threads (machine)", kind="probe", probe="memory"),
    ]


def run_probe(item: Item, threads: int, settings: Any, env: dict[str, str]) -> Any:
    from grader.harness.jobs import TimingReport

    done = subprocess.run(
        [sys.executable, "-P", "-c", NOISE_PROBE, item.probe, str(threads), settings.model_dump_json()],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"{item.label}: the probe failed\n{done.stderr[-2000:]}")
    return TimingReport.model_validate_json(done.stdout.strip().splitlines()[-1])


def one_run(
    items: list[Item], rounds: int, work: Path, env: dict[str, str], threads: int, settings: Any
) -> None:
    """One `grader measure`-style run: fresh zygotes, `rounds` interleaved rounds of every item."""
    from grader.harness.jobs import Limits
    from grader.harness.runner import Runner
    from grader.harness.stats import median_interval

    work.mkdir()
    samples: dict[str, list[list[float]]] = {item.label: [] for item in items}
    with Runner(work, env) as runner:
        for _ in range(rounds):
            for item in items:
                if item.kind == "model":
                    outcome = runner.run(item.job, Limits(timeout_s=900), preload=item.preload)
                    report = outcome.report
                    if not outcome.ok or report is None or report.timing is None:
                        raise SystemExit(f"{item.label}: {outcome.reason}\n{outcome.stderr_tail}")
                    timing = report.timing
                else:
                    timing = run_probe(item, threads, settings, env)
                samples[item.label].append(timing.samples_ms)
                item.round_medians.append(statistics.median(timing.samples_ms))
                item.windows.append(sum(timing.samples_ms) / 1000)
                item.stops.append(timing.stop_reason)
                item.counts.append(len(timing.samples_ms))
    for item in items:
        merged = [s for r in samples[item.label] for s in r]
        item.figures.append(statistics.median(merged))
        interval = median_interval([statistics.median(r) for r in samples[item.label]], 0.95, "ms")
        item.noise.append(interval.half_width if interval is not None else float("nan"))


def timer_line() -> str:
    from grader.harness.timing import time_calls

    info = time.get_clock_info("perf_counter")
    empty = statistics.median(time_calls(lambda: None, 20000)) / 1000
    return (
        f"timer: time.perf_counter_ns ({info.implementation}, resolution {info.resolution * 1e9:.0f} ns); "
        f"a timed empty call reads {empty:.3f} µs"
    )


def summary(item: Item, precision: float, quiet: float | None) -> list[str]:
    spread = cv(item.figures)
    known = [n for n in item.noise if n == n]  # NaN: a run of one round has no interval
    lines = [
        f"{item.label}: CV of {len(item.figures)} run medians {spread:.2%} "
        f"(min {min(item.figures):.4f}, max {max(item.figures):.4f} ms); "
        + (
            f"95 % CI half-width per run: median {statistics.median(known):.1%}, "
            f"{sum(n <= precision for n in known)} of {len(known)} runs within the course's {precision:.0%}"
            if known
            else "one round per run: no interval"
        )
    ]
    if item.kind != "model":
        return lines
    window = statistics.median(item.windows)
    if len(item.figures) < 2:
        return [*lines, "    one run: no run-to-run spread to judge"]
    stops = ", ".join(f"{stop} ×{item.stops.count(stop)}" for stop in sorted(set(item.stops)))
    lines.append(
        f"    rounds: median {statistics.median(item.counts):.0f} calls, {window:.2f} s of timed calls; "
        f"stopped by {stops}"
    )
    split = modes(item)
    lines += split
    if spread <= 0.03:
        lines.append("    within the 3 % target")
    elif split:
        lines.append("    above the 3 % target: the spread is the two modes above, not timing noise")
    elif quiet is not None and quiet > 0.015:
        lines.append(
            f"    above the 3 % target while the machine's own N-thread probes varied by up to {quiet:.1%} "
            "between runs: the figure describes this machine's load, not the harness "
            "(re-run on an idle machine)"
        )
    else:
        lines.append("    ABOVE the 3 % target on a quiet machine: the harness's own run-to-run variation")
    return lines


def modes(item: Item) -> list[str]:
    """Say so when the children's own medians fall into two groups: a run-to-run CV then measures
    how many children landed in the slow group, not timing noise."""
    values = sorted(item.round_medians)
    if len(values) < 3:
        return []
    ratio, cut = max((values[i + 1] / values[i], i + 1) for i in range(len(values) - 1))
    if ratio < 1.2:
        return []
    from grader.harness.environment import available_cpus

    fast, slow = statistics.median(values[:cut]), statistics.median(values[cut:])
    lines = [
        f"    two modes: {cut} of {len(values)} children at ~{fast:.4f} ms, "
        f"{len(values) - cut} at ~{slow:.4f} ms (×{slow / fast:.2f})"
    ]
    job, cpus = item.job, available_cpus()
    if job is not None and job.backend == "onnxruntime" and job.intra_op_threads >= cpus > 1:
        lines.append(
            f"    why: onnxruntime's intra-op pool ({job.intra_op_threads} threads on {cpus} CPUs) "
            "keeps its worker spinning between calls, and each child settles in a fast or a slow mode for "
            "its whole life; plain subprocesses without the harness show the same two modes. With one "
            "thread (--threads 1) the children are unimodal, and faster for a model this small. In a grade "
            "a grade's interval widens, and more rounds are run, when its rounds land in different modes"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--models", default="vit,vit-onnx", help="vit, vit-onnx, bert-base (comma-separated)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: course.yaml's)")
    parser.add_argument("--quick", action="store_true", help="short timing bounds (smoke tests)")
    args = parser.parse_args()

    from grader.course import load_course
    from grader.course.model import Threads
    from grader.harness.environment import ThreadPlan

    course = load_course(REPO / "course.yaml")
    requested = course.runner.threads if args.threads is None else Threads(intra_op=args.threads, inter_op=1)
    plan = ThreadPlan.from_course(requested)
    settings = course_latency(args.quick)
    rounds = 1 if args.quick else course_rounds()
    precision = course.runner.speed.precision
    env = {**os.environ, **plan.env(), "PYTHONPATH": str(REPO)}
    print(
        f"{args.runs} runs × {rounds} rounds; intra-op threads {plan.intra_op} "
        f"(course asks {plan.requested_intra_op}); latency settings {settings.model_dump()}",
        flush=True,
    )
    print(timer_line(), flush=True)
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        root = Path(tmp)
        items = model_items(args.models.split(","), root, settings, plan.intra_op) + probe_items(
            plan.intra_op
        )
        for run in range(args.runs):
            before, started = cpu_times(), time.perf_counter()
            print(f"run {run + 1}: starts at {load()}", flush=True)
            one_run(items, rounds, root / f"run-{run + 1}", env, plan.intra_op, settings)
            busy = busy_share(before, cpu_times())
            for item in items:
                print(
                    f"    {item.label}: median {item.figures[-1]:.4f} ms, CI ±{item.noise[-1]:.1%}",
                    flush=True,
                )
            print(
                f"    took {time.perf_counter() - started:.0f} s; the machine was {busy:.0%} busy "
                f"(all CPUs, this benchmark included); ends at {load()}",
                flush=True,
            )
    probes = [item for item in items if item.kind == "probe" and item.probe != "spin"]
    quiet = max((cv(p.figures) for p in probes), default=None) if args.runs > 1 else None
    print(json.dumps({item.label: [round(f, 5) for f in item.figures] for item in items}), flush=True)
    for item in items:
        for line in summary(item, precision, quiet):
            print(line, flush=True)


if __name__ == "__main__":
    main()

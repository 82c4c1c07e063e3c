"""The grader's harness side by side with optimum-benchmark, on the same model files and inputs.

    python benchmarks/vs_optimum_benchmark.py [--venv DIR] [--models vit,bert-base] [--threads N]
        [--ob-spec optimum-benchmark==0.6.0] [--transformers SPEC ...] [--reinstall] [--quick]

optimum-benchmark lives in its own venv (`--venv`, default ~/.cache/compression-grader/
optimum-benchmark-venv, reused while its recorded specs match): first the torch version this
interpreter runs (the CPU build; TORCH_INDEX_URL is honoured like .ci/run does), then
`--ob-spec` with each `--transformers` candidate in turn until one installs and imports
optimum-benchmark's PyTorch backend. The default candidates are this venv's own transformers
version first, then `>=4.57,<5` (optimum-benchmark 0.6.0 imports `SpecialTokensMixin`, which
transformers 5 removed). If none works, the script prints every pip / import error verbatim, still
prints the harness's side, and exits with status 2.

For each model (benchmarks/common.py: `vit`, `bert-base`, `tiny-bert`), the same folder and input
shapes, batch size 1, on the CPU, with OMP/MKL threads set the same way for both:
- the harness as `grader measure` runs it: a fresh process that starts the zygote, a latency child
  (the course's adaptive warm-up and stopping rule) and a memory child;
- optimum-benchmark's `pytorch` backend, `inference` scenario, latency and memory tracking,
  `iterations` / `duration` set to the course's min_iters / min_time_s, in a fresh process with
  the `inline` launcher (`--ob-launcher process` for its default one, whose parent busy-waits on a
  CPU of its own while the worker runs: on 2 CPUs with 2 threads that alone made BERT-base's p50
  540 ms against a 167-192 ms bare loop);
- the same bare perf_counter loop as harness_overhead.py in both venvs, so a difference that comes
  from the transformers versions is told apart from one that comes from the method.
It prints both latencies, both peak-RAM figures and both wall times, each with how it is computed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from common import REPO, BenchModel, build_model, course_latency
from common import load_text as load
from harness_overhead import BARE

MB = 1_000_000
MIB = 1024 * 1024
RESULT = "@@RESULT@@"
DEFAULT_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "compression-grader"
DEFAULT_VENV /= "optimum-benchmark-venv"

# The harness, as `grader measure` runs one model's latency and memory phases, in a fresh process.
OURS = r"""
import json, sys
from pathlib import Path
from grader.course.model import LatencySettings, Threads
from grader.harness.backends.transformers import TransformersBackend
from grader.harness.environment import ThreadPlan
from grader.harness.jobs import Limits, PhaseJob
from grader.harness.memory import memory_result
from grader.harness.runner import Runner

folder, task, inputs, threads, work = sys.argv[1:6]
settings = LatencySettings.model_validate_json(sys.argv[6])
plan = ThreadPlan.from_course(Threads(intra_op=int(threads), inter_op=1))
out = {}
with Runner(Path(work), plan.env()) as runner:
    for phase in ("latency", "memory"):
        job = PhaseJob(
            phase=phase, backend="transformers", model_dir=folder, format="safetensors", task=task,
            inputs_file=inputs, intra_op_threads=plan.intra_op, inter_op_threads=1, latency=settings,
        )
        outcome = runner.run(job, Limits(timeout_s=1800), preload=TransformersBackend.preload)
        report = outcome.report
        if not outcome.ok or report is None:
            print("@@RESULT@@" + json.dumps({"error": f"{phase}: {outcome.reason}\n{outcome.stderr_tail}"}))
            sys.exit(1)
        if phase == "latency":
            out["samples_ms"] = report.timing.samples_ms
            out["warmup_iters"] = report.timing.warmup_iters
            out["stop_reason"] = report.timing.stop_reason
            out["threads"] = report.threads
        else:
            memory = memory_result(
                rss_before_load=report.rss_before_load_bytes,
                ru_maxrss=outcome.exit.ru_maxrss_bytes,
                vmhwm=report.vmhwm_bytes,
            )
            out["peak_rss_bytes"] = memory.peak_rss_bytes
            out["above_bytes"] = memory.peak_above_interpreter_bytes
            out["rss_before_load_bytes"] = report.rss_before_load_bytes
            out["memory_source"] = memory.source
print("@@RESULT@@" + json.dumps(out))
"""

# optimum-benchmark's own API, run with its venv's python. A file, not `-c`: the process launcher
# spawns its worker, and spawn re-imports __main__.
OB_RUNNER = r"""
import json
import sys


def main():
    from optimum_benchmark import (
        Benchmark, BenchmarkConfig, InferenceConfig, InlineConfig, ProcessConfig, PyTorchConfig,
    )

    cfg = json.loads(sys.argv[1])
    # No inter/intra_op_num_threads: 0.6.0 hands inter_op_num_threads to torch.set_num_threads and
    # intra_op_num_threads to torch.set_num_interop_threads. OMP_NUM_THREADS in the environment sets
    # torch's intra-op pool, as it does for the harness.
    backend = PyTorchConfig(
        model=cfg["model"], device="cpu", task=cfg["task"], library="transformers",
        model_type=cfg["model_type"], no_weights=False,
    )
    scenario = InferenceConfig(
        latency=True, memory=True, input_shapes=cfg["input_shapes"], iterations=cfg["iterations"],
        duration=cfg["duration"], warmup_runs=cfg["warmup_runs"],
    )
    # `process` (optimum-benchmark's default) spawns a worker, and the parent then waits for it in
    # `while worker.is_alive() and not pipe.poll(): pass`: a busy loop that keeps a whole CPU.
    # This script already runs in a fresh process, so `inline` isolates the run just as well.
    launcher = InlineConfig() if cfg["launcher"] == "inline" else ProcessConfig(device_isolation=False)
    config = BenchmarkConfig(name="grader-comparison", scenario=scenario, launcher=launcher, backend=backend)
    report = Benchmark.launch(config).to_dict()
    keep = {}
    for target in ("load_model", "first_forward", "forward"):
        part = report.get(target) or {}
        keep[target] = {"latency": (part.get("latency") or {}).get("values"), "memory": part.get("memory")}
    print("@@RESULT@@" + json.dumps(keep))


if __name__ == "__main__":
    main()
"""


class SetupError(Exception):
    """optimum-benchmark could not be installed or imported; the message holds the exact errors."""


@dataclass
class ObVenv:
    root: Path
    transformers: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def python(self) -> Path:
        return Path(sys.executable) if self.root == Path(sys.prefix) else self.root / "bin" / "python"

    def run_pip(self, *args: str, command: str = "install") -> subprocess.CompletedProcess[str]:
        line = [str(self.python), "-m", "pip", command, "-q", "--disable-pip-version-check", *args]
        return subprocess.run(line, capture_output=True, text=True, check=False, timeout=1800)


def pip_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip() and "Location 'file:" not in line]
    return "\n".join(lines[-25:]) or f"pip exited with status {done.returncode}"


def setup_venv(root: Path, ob_spec: str, candidates: list[str], reinstall: bool) -> ObVenv:
    """The venv with optimum-benchmark installed, reused when its recorded specs match."""
    torch_version = version("torch").split("+")[0]
    wanted = {"ob": ob_spec, "torch": torch_version, "candidates": candidates}
    marker = root / "grader-bench.json"
    venv = ObVenv(root)
    if not reinstall and marker.is_file() and venv.python.exists():
        recorded = json.loads(marker.read_text())
        if {k: recorded.get(k) for k in wanted} == wanted:
            venv.transformers = recorded["transformers"]
            venv.notes = [f"reused {root} (delete it or pass --reinstall to rebuild)"]
            return venv
    started = time.perf_counter()
    # Its own wheel first (small), with this interpreter's pip: a spec that does not resolve fails
    # here, in seconds, before a venv and torch are installed for nothing.
    with tempfile.TemporaryDirectory(prefix="grader-ob-wheel-") as wheel_dir:
        done = ObVenv(Path(sys.prefix)).run_pip("--no-deps", "-d", wheel_dir, ob_spec, command="download")
    if done.returncode != 0:
        raise SetupError(f"pip download {ob_spec} failed:\n{pip_error(done)}")
    if root.exists():
        if not (root / "pyvenv.cfg").is_file():  # never delete a folder that is not a venv
            raise SetupError(f"{root} exists and is not a venv; pass --venv a new or venv folder")
        shutil.rmtree(root)
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=300)
    venv.run_pip("--upgrade", "pip")
    index = os.environ.get("TORCH_INDEX_URL")
    done = venv.run_pip(f"torch=={torch_version}", *(["--index-url", index] if index else []))
    if done.returncode != 0:
        raise SetupError(f"pip install torch=={torch_version} failed:\n{pip_error(done)}")
    failures = []
    for spec in candidates:
        done = venv.run_pip(ob_spec, spec, f"torch=={torch_version}")
        if done.returncode != 0:
            failures.append(f"pip install {ob_spec} '{spec}' failed:\n{pip_error(done)}")
            continue
        check = subprocess.run(
            [str(venv.python), "-c", "import optimum_benchmark.backends.pytorch.backend"],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
        if check.returncode != 0:
            tail = "\n".join(check.stderr.strip().splitlines()[-3:])
            failures.append(
                f"{ob_spec} with '{spec}' installs, but its PyTorch backend does not import:\n{tail}"
            )
            continue
        venv.transformers = _venv_version(venv, "transformers")
        venv.notes = [*failures, f"installed in {time.perf_counter() - started:.0f} s"]
        marker.write_text(json.dumps({**wanted, "transformers": venv.transformers}))
        return venv
    raise SetupError("\n".join(failures))


def _venv_version(venv: ObVenv, dist: str) -> str:
    code = f"from importlib.metadata import version; print(version({dist!r}))"
    done = subprocess.run([str(venv.python), "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@dataclass
class Timed:
    wall_s: float
    result: dict[str, Any]


def run_json(command: list[str], env: dict[str, str], what: str) -> Timed:
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=3600, cwd=REPO
    )
    wall = time.perf_counter() - started
    marked = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not marked:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])
        raise RuntimeError(f"{what} failed (status {done.returncode}):\n{tail}")
    return Timed(wall, json.loads(marked[-1].removeprefix(RESULT)))


def run_ours(model: BenchModel, threads: int, settings: Any, work: Path, env: dict[str, str]) -> Timed:
    work.mkdir(parents=True, exist_ok=True)
    args = [
        str(model.folder),
        model.task,
        str(model.inputs),
        str(threads),
        str(work),
        settings.model_dump_json(),
    ]
    return run_json([sys.executable, "-P", "-c", OURS, *args], env, "the harness")


def run_ob(
    venv: ObVenv,
    model: BenchModel,
    settings: Any,
    quick: bool,
    launcher: str,
    script: Path,
    env: dict[str, str],
) -> Timed:
    shapes = model.shapes
    first = next(iter(shapes.values()))
    if model.task == "image-classification":
        _, channels, height, width = shapes["pixel_values"]
        input_shapes = {"batch_size": first[0], "num_channels": channels, "height": height, "width": width}
    else:
        input_shapes = {"batch_size": first[0], "sequence_length": first[1]}
    config = {
        "model": str(model.folder),
        "task": model.task,
        "model_type": json.loads((model.folder / "config.json").read_text())["model_type"],
        "input_shapes": input_shapes,
        "iterations": settings.min_iters,
        "duration": 0 if quick else max(1, round(settings.min_time_s)),
        "warmup_runs": 2 if quick else 10,
        "launcher": launcher,
    }
    return run_json([str(venv.python), str(script), json.dumps(config)], env, "optimum-benchmark")


def run_bare(python: str, model: BenchModel, threads: int, iters: int, env: dict[str, str]) -> Timed:
    args = [
        str(model.folder),
        str(model.inputs),
        model.task,
        str(max(10, iters // 5)),
        str(iters),
        str(threads),
    ]
    started = time.perf_counter()
    done = subprocess.run([python, "-c", BARE, *args], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the bare loop failed:\n{done.stderr[-2000:]}")
    return Timed(time.perf_counter() - started, json.loads(done.stdout.strip().splitlines()[-1]))


def report_model(
    model: BenchModel, threads: int, ours: Timed, ob: Timed | str, bares: dict[str, Timed], launcher: str
) -> None:
    mine = ours.result
    where = (
        "its own process (inline launcher)" if launcher == "inline" else "a spawned worker (process launcher)"
    )
    samples = mine["samples_ms"]
    shapes = ", ".join(f"{name} {shape}" for name, shape in model.shapes.items())
    print(f"\n== {model.name}: {shapes}; batch 1; CPU; {threads} intra-op threads (OMP/MKL_NUM_THREADS)")
    print(
        f"latency, harness: median {statistics.median(samples):.4f} ms of {len(samples)} calls "
        "(perf_counter_ns around backend.run() in a zygote-forked child, "
        f"after {mine['warmup_iters']} adaptive warm-up calls; stopped: {mine['stop_reason']}; "
        f"threads {mine['threads']})"
    )
    if isinstance(ob, Timed):
        values = [v * 1000 for v in ob.result["forward"]["latency"]]
        print(
            f"latency, optimum-benchmark: p50 {statistics.median(values):.4f} ms "
            f"of {len(values)} forward() calls (time.perf_counter around backend.forward() in {where}, "
            "after a fixed warm-up, until both `iterations` and `duration` are reached); "
            f"mean {statistics.fmean(values):.4f} ms"
        )
    for label, bare in bares.items():
        median, n = bare.result["median_ms"], bare.result["n"]
        print(f"latency, bare loop ({label}): median {median:.4f} ms of {n} calls")
    peak, above = mine["peak_rss_bytes"], mine["above_bytes"]
    print(
        f"peak RAM, harness: {peak / MIB:.1f} MiB = {peak / MB:.1f} MB absolute "
        f"({mine['memory_source']}: the kernel's exact high-water mark of the memory child, "
        f"load + 5 calls); {above / MIB:.1f} MiB above the child's RSS before loading "
        "(the figure a grade reports)"
    )
    if isinstance(ob, Timed):
        steps = ("load_model", "first_forward", "forward")
        parts = {step: (ob.result[step]["memory"] or {}).get("max_ram") for step in steps}
        top = max(v for v in parts.values() if v is not None)
        detail = ", ".join(f"{step} {v:.1f}" for step, v in parts.items() if v is not None)
        print(
            f"peak RAM, optimum-benchmark: {top:.1f} MB = {top * MB / MIB:.1f} MiB absolute "
            f"(psutil RSS sampled every 10 ms by a separate process during each tracked step: {detail} MB); "
            "it counts the interpreter and every import, and a peak shorter than 10 ms can fall "
            "between samples"
        )
    print(
        f"wall time, harness: {ours.wall_s:.1f} s "
        "(a fresh process: imports, zygote, latency child, memory child)"
    )
    if isinstance(ob, Timed):
        print(
            f"wall time, optimum-benchmark: {ob.wall_s:.1f} s "
            f"(a fresh process: imports, then in {where}: load, warm-up, timing, memory tracking)"
        )
    else:
        print(f"optimum-benchmark: not run: {ob}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--venv", type=Path, default=DEFAULT_VENV, help="optimum-benchmark's venv (made if needed)"
    )
    parser.add_argument("--models", default="vit,bert-base")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: course.yaml's)")
    parser.add_argument("--ob-spec", default="optimum-benchmark==0.6.0")
    parser.add_argument(
        "--transformers",
        action="append",
        help="a transformers requirement to try in optimum-benchmark's venv (repeatable, in order)",
    )
    parser.add_argument(
        "--ob-launcher",
        choices=("inline", "process"),
        default="inline",
        help="optimum-benchmark's launcher; `process` busy-waits on a CPU of its own while the worker runs",
    )
    parser.add_argument("--reinstall", action="store_true", help="rebuild the venv even if it matches")
    parser.add_argument("--quick", action="store_true", help="short timing bounds (smoke tests)")
    args = parser.parse_args()

    from grader.course import load_course
    from grader.course.model import Threads
    from grader.harness.environment import ThreadPlan

    course = load_course(REPO / "course.yaml")
    requested = course.runner.threads if args.threads is None else Threads(intra_op=args.threads, inter_op=1)
    plan = ThreadPlan.from_course(requested)
    settings = course_latency(args.quick)
    candidates = args.transformers or [f"transformers=={version('transformers')}", "transformers>=4.57,<5"]
    env = {**os.environ, **plan.env(), "PYTHONPATH": str(REPO)}
    ob_env = {**os.environ, **plan.env()}  # the same threads; nothing of this checkout on its path
    print(f"starts at {load()}; harness: torch {version('torch')}, transformers {version('transformers')}")
    venv: ObVenv | None = None
    why_not = ""
    try:
        venv = setup_venv(args.venv.expanduser().resolve(), args.ob_spec, candidates, args.reinstall)
        print(f"optimum-benchmark: {args.ob_spec} with transformers {venv.transformers} in {venv.root}")
        for note in venv.notes:
            print(f"    {note}")
    except SetupError as error:
        why_not = f"{args.ob_spec} could not be installed or imported here:\n{error}"
        print(f"optimum-benchmark: {why_not}")
    compared = True
    with tempfile.TemporaryDirectory(prefix="grader-vs-ob-") as tmp:
        root = Path(tmp)
        script = root / "ob_runner.py"
        script.write_text(OB_RUNNER)
        for name in args.models.split(","):
            model = build_model(name, root)
            ours = run_ours(model, plan.intra_op, settings, root / f"work-{name}", env)
            iters = len(ours.result["samples_ms"])
            ob: Timed | str = why_not
            here = f"this venv, transformers {version('transformers')}"
            bares = {here: run_bare(sys.executable, model, plan.intra_op, iters, env)}
            if venv is not None:
                try:
                    ob = run_ob(venv, model, settings, args.quick, args.ob_launcher, script, ob_env)
                except RuntimeError as error:
                    ob = str(error)
                there = f"optimum-benchmark's venv, transformers {venv.transformers}"
                bares[there] = run_bare(str(venv.python), model, plan.intra_op, iters, ob_env)
            compared = compared and isinstance(ob, Timed)
            report_model(model, plan.intra_op, ours, ob, bares, args.ob_launcher)
    print(f"\nends at {load()}")
    if not compared:
        sys.exit(2)


if __name__ == "__main__":
    main()

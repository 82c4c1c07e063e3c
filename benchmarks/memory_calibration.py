"""Memory calibration: known allocations read back through the harness, forked and fresh.

    python benchmarks/memory_calibration.py [--sizes 32,128,512,1024] [--model [bert-base|tiny-bert]]

Each size runs an `alloc` probe child (it touches exactly N MiB with numpy) once forked from a
zygote and once as a fresh `python -m grader.harness.child` process; the reading is the memory
phase's figure (peak RSS above the child's own pre-allocation RSS, from wait4's ru_maxrss, or
VmHWM for the fresh process). Target: within 3 % of N. With `--model`, a BERT-base-sized random
checkpoint (440 MB of fp32; `--model tiny-bert` for a smoke run) goes through the real memory phase
too, forked and fresh, with the bytes of its weights and of the embedding rows a forward does not
read, for comparison.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from common import load_text

if TYPE_CHECKING:
    from grader.harness.runner import ChildOutcome, Runner

MIB = 1024 * 1024


def reading(outcome: ChildOutcome) -> float:
    from grader.harness.memory import memory_result

    report, info = outcome.report, outcome.exit
    if not outcome.ok or report is None or info is None or report.rss_before_load_bytes is None:
        raise SystemExit(f"child failed: {outcome.reason}\n{outcome.stderr_tail}")
    result = memory_result(
        rss_before_load=report.rss_before_load_bytes, ru_maxrss=info.ru_maxrss_bytes, vmhwm=report.vmhwm_bytes
    )
    return result.peak_above_interpreter_bytes / MIB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="32,128,512,1024")
    parser.add_argument(
        "--model",
        nargs="?",
        const="bert-base",
        default=None,
        help="also a checkpoint's memory phase (default bert-base; tiny-bert for a smoke run)",
    )
    args = parser.parse_args()

    from grader.course.model import Threads
    from grader.harness.environment import ThreadPlan
    from grader.harness.jobs import Limits, ProbeJob
    from grader.harness.runner import Runner

    plan = ThreadPlan.from_course(Threads(intra_op=1, inter_op=1))
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        root = Path(tmp)
        (root / "forked").mkdir()
        (root / "fresh").mkdir()
        worst = 0.0
        print(f"starts at {load_text()}", flush=True)
        with (
            Runner(root / "forked", plan.env()) as forked,
            Runner(root / "fresh", plan.env(), use_zygote=False) as fresh,
        ):
            for mib in (int(s) for s in args.sizes.split(",")):
                for label, runner in (("forked", forked), ("fresh", fresh)):
                    outcome = runner.run(
                        ProbeJob(action="alloc", mib=mib), Limits(timeout_s=300), preload=("numpy",)
                    )
                    read = reading(outcome)
                    error = abs(read - mib) / mib
                    worst = max(worst, error)
                    print(
                        f"alloc {mib:5d} MiB, {label:6s}: read {read:8.2f} MiB, error {error:.2%}", flush=True
                    )
            print(f"worst calibration error: {worst:.2%} (target <= 3 %); now {load_text()}", flush=True)
            if args.model:
                model_check(args.model, root, forked, fresh)


def model_check(name: str, root: Path, forked: Runner, fresh: Runner) -> None:
    from common import build_model
    from safetensors import safe_open

    from grader.harness.backends.transformers import TransformersBackend
    from grader.harness.jobs import Limits, PhaseJob

    model = build_model(name, root)
    with safe_open(str(model.folder / "model.safetensors"), "np") as weights:
        sizes = {name: weights.get_slice(name).get_shape() for name in weights.keys()}  # noqa: SIM118
    total = sum(4 * _count(shape) for shape in sizes.values())
    # rows of the word embeddings that a forward does not read
    untouched = 4 * _count(sizes["bert.embeddings.word_embeddings.weight"])
    job = PhaseJob(
        phase="memory",
        backend="transformers",
        model_dir=str(model.folder),
        format="safetensors",
        task=model.task,
        inputs_file=str(model.inputs),
    )
    print(f"{name} weights {total / MIB:.1f} MiB, of which word embeddings {untouched / MIB:.1f} MiB")
    for label, runner in (("forked", forked), ("fresh", fresh)):
        outcome = runner.run(job, Limits(timeout_s=600), preload=TransformersBackend.preload)
        print(f"{name} memory phase, {label}: peak above interpreter {reading(outcome):.1f} MiB", flush=True)


def _count(shape: list[int]) -> int:
    out = 1
    for dim in shape:
        out *= dim
    return out


if __name__ == "__main__":
    main()

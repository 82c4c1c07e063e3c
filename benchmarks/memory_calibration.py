"""Memory calibration: known allocations read back through the harness, forked and fresh.

    python benchmarks/memory_calibration.py [--sizes 32,128,512,1024] [--model]

Each size runs an `alloc` probe child (it touches exactly N MiB with numpy) once forked from a
zygote and once as a fresh `python -m grader.harness.child` process; the reading is the memory
phase's figure (peak RSS above the child's own pre-allocation RSS, from wait4's ru_maxrss, or
VmHWM for the fresh process). Target: within 3 % of N. With `--model`, a BERT-base-sized random
checkpoint (440 MB of fp32) goes through the real memory phase too, forked and fresh, with the
bytes of the weights that a forward pass touches for comparison.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

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
    parser.add_argument("--model", action="store_true", help="also a BERT-base-sized checkpoint")
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
            print(f"worst calibration error: {worst:.2%} (target <= 3 %)", flush=True)
            if args.model:
                model_check(root, forked, fresh)


def model_check(root: Path, forked: Runner, fresh: Runner) -> None:
    import numpy as np
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from grader.harness.backends.transformers import TransformersBackend
    from grader.harness.jobs import Limits, PhaseJob

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(num_labels=2)).eval()
    folder = root / "bert-base"
    model.save_pretrained(folder)
    total = sum(p.numel() * 4 for p in model.parameters())
    untouched = model.bert.embeddings.word_embeddings.weight.numel() * 4  # rows a forward does not read
    ids = np.random.default_rng(0).integers(1000, 30000, size=(1, 128)).astype(np.int64)
    np.savez(
        root / "bert.npz", input_ids=ids, attention_mask=np.ones_like(ids), token_type_ids=np.zeros_like(ids)
    )
    del model
    job = PhaseJob(
        phase="memory",
        backend="transformers",
        model_dir=str(folder),
        format="safetensors",
        task="text-classification",
        inputs_file=str(root / "bert.npz"),
    )
    print(f"BERT-base weights {total / MIB:.1f} MiB, of which word embeddings {untouched / MIB:.1f} MiB")
    for label, runner in (("forked", forked), ("fresh", fresh)):
        outcome = runner.run(job, Limits(timeout_s=600), preload=TransformersBackend.preload)
        print(
            f"BERT-base memory phase, {label}: peak above interpreter {reading(outcome):.1f} MiB", flush=True
        )


if __name__ == "__main__":
    main()

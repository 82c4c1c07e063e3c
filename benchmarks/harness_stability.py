"""Run-to-run stability: the same model measured in separate latency children, against the
machine's own noise.

    python benchmarks/harness_stability.py [--runs 5] [--threads 2]

Five (`--runs`) latency children of the same model, each a full harness latency phase (fresh
fork, load, adaptive warm-up, adaptive stopping), give five medians; their CV is the harness's
run-to-run stability. The same is done for a 1 ms busy-wait probe (pure CPU, no model, no
memory traffic): its CV of medians is the noise this machine adds by itself, which no harness
can remove. Models: the demo's ViT (transformers) and its ONNX export (onnxruntime).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np


def build(root: Path) -> tuple[Path, Path, Path]:
    import warnings

    import torch
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    config = ViTConfig(
        image_size=8,
        patch_size=4,
        num_channels=1,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        num_labels=10,
    )
    model = ViTForImageClassification(config).eval()
    model.save_pretrained(root / "vit")
    pixels = np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
    (root / "onnx").mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (),
            str(root / "onnx" / "model.onnx"),
            kwargs={"pixel_values": torch.from_numpy(pixels)},
            input_names=["pixel_values"],
            output_names=["logits"],
            dynamo=False,
        )
    np.savez(root / "inputs.npz", pixel_values=pixels)
    return root / "vit", root / "onnx", root / "inputs.npz"


def cv(values: list[float]) -> float:
    return statistics.stdev(values) / statistics.fmean(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from grader.course.model import LatencySettings, Threads
    from grader.harness.backends import BACKENDS
    from grader.harness.environment import ThreadPlan
    from grader.harness.jobs import Limits, PhaseJob, ProbeJob
    from grader.harness.measure import noise_cv
    from grader.harness.runner import Runner

    plan = ThreadPlan.from_course(Threads(intra_op=args.threads, inter_op=1))
    settings = LatencySettings()  # the course defaults: what a grading run uses
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        root = Path(tmp)
        vit, onnx, inputs = build(root)
        (root / "work").mkdir()
        with Runner(root / "work", plan.env()) as runner:
            jobs = {
                "vit (transformers)": (
                    PhaseJob(
                        phase="latency",
                        backend="transformers",
                        model_dir=str(vit),
                        format="safetensors",
                        task="image-classification",
                        inputs_file=str(inputs),
                        latency=settings,
                        intra_op_threads=plan.intra_op,
                    ),
                    BACKENDS.load("transformers").preload,
                ),
                "vit (onnxruntime)": (
                    PhaseJob(
                        phase="latency",
                        backend="onnxruntime",
                        model_dir=str(onnx),
                        format="onnx",
                        inputs_file=str(inputs),
                        latency=settings,
                        intra_op_threads=plan.intra_op,
                    ),
                    BACKENDS.load("onnxruntime").preload,
                ),
                "1 ms busy-wait (machine noise)": (
                    ProbeJob(action="spin", spin_ms=1.0, latency=settings),
                    ("numpy",),
                ),
            }
            medians: dict[str, list[float]] = {name: [] for name in jobs}
            noise: dict[str, list[float]] = {name: [] for name in jobs}
            for run in range(args.runs):  # interleaved, like the grader's rounds
                for name, (job, preload) in jobs.items():
                    outcome = runner.run(job, Limits(timeout_s=600), preload=preload)
                    if not outcome.ok or outcome.report is None or outcome.report.timing is None:
                        raise SystemExit(f"{name}: {outcome.reason}\n{outcome.stderr_tail}")
                    samples = outcome.report.timing.samples_ms
                    medians[name].append(statistics.median(samples))
                    noise[name].append(noise_cv([samples]))
                    print(
                        f"run {run + 1} {name}: median {medians[name][-1]:.4f} ms, {len(samples)} samples, "
                        f"noise {noise[name][-1]:.1%}, stop {outcome.report.timing.stop_reason}",
                        flush=True,
                    )
            for name in jobs:
                print(
                    f"{name}: CV of {args.runs} medians {cv(medians[name]):.2%} "
                    f"(min {min(medians[name]):.4f}, max {max(medians[name]):.4f} ms); "
                    f"median within-run noise {statistics.median(noise[name]):.1%}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

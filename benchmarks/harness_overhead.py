"""Harness timing overhead: the harness's latency median against a bare perf_counter loop.

    python benchmarks/harness_overhead.py [--models vit,bert-base] [--pairs 3] [--threads 2]

For each model, alternately (bare, harness, bare, harness, ...; `--pairs` of each):

- bare: a fresh `python -c` process loads the model with transformers, warms it up, and times
  `model(**inputs)` inside one `torch.inference_mode()` block with `time.perf_counter()` around
  each call, as a student's notebook would;
- harness: a latency child forked from the harness's zygote (grader.harness.runner), adaptive
  warm-up and stopping rule (the course's latency settings), timing `backend.run()` +
  `backend.synchronize()` with `perf_counter_ns`.

Both use the same inputs, thread counts (OMP/MKL from the ThreadPlan) and weights. The figure is
median(harness medians) / median(bare medians); the target is ≤ 1.03. Models: the demo's ViT
(hidden 64, 2 layers, 8×8 one-channel digits) and a BERT-base-sized random model (hidden 768,
12 layers, vocabulary 30522, sequence length 128), both random-init and saved as safetensors.
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

import numpy as np

BARE = r"""
import json, statistics, sys, time
import numpy as np, torch
from transformers import AutoModelForSequenceClassification, AutoModelForImageClassification
folder, inputs_file, head = sys.argv[1], sys.argv[2], sys.argv[3]
warmup, iters = int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(int(sys.argv[6]))
cls = AutoModelForImageClassification if head == "image" else AutoModelForSequenceClassification
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


def make_models(root: Path, names: list[str]) -> dict[str, tuple[Path, str, Path]]:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    out: dict[str, tuple[Path, str, Path]] = {}
    for name in names:
        folder = root / name
        if name == "vit":
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
            ViTForImageClassification(config).eval().save_pretrained(folder)
            inputs = {
                "pixel_values": np.random.default_rng(0).standard_normal((1, 1, 8, 8)).astype(np.float32)
            }
            head = "image"
        elif name == "bert-base":
            config = BertConfig(num_labels=2)  # the defaults are BERT-base: 768 × 12 layers, 30522 tokens
            BertForSequenceClassification(config).eval().save_pretrained(folder)
            ids = np.random.default_rng(0).integers(1000, 30000, size=(1, 128)).astype(np.int64)
            inputs = {
                "input_ids": ids,
                "attention_mask": np.ones_like(ids),
                "token_type_ids": np.zeros_like(ids),
            }
            head = "text"
        else:
            raise SystemExit(f"unknown model {name!r}: vit or bert-base")
        np.savez(root / f"{name}.npz", **inputs)
        out[name] = (folder, head, root / f"{name}.npz")
    return out


def bare(folder: Path, head: str, inputs: Path, env: dict[str, str], threads: int, iters: int) -> float:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            BARE,
            str(folder),
            str(inputs),
            head,
            str(max(10, iters // 5)),
            str(iters),
            str(threads),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=1800,
    )
    return float(json.loads(done.stdout.strip().splitlines()[-1])["median_ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="vit,bert-base")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    from grader.course.model import LatencySettings, Threads
    from grader.harness.backends.transformers import TransformersBackend
    from grader.harness.environment import ThreadPlan
    from grader.harness.jobs import Limits, PhaseJob
    from grader.harness.runner import Runner

    plan = ThreadPlan.from_course(Threads(intra_op=args.threads, inter_op=1))
    env = {**os.environ, **plan.env()}
    settings = LatencySettings(warmup_max_s=10, min_iters=30, min_time_s=2.0, max_time_s=30, max_iters=10000)
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as tmp:
        root = Path(tmp)
        models = make_models(root, args.models.split(","))
        (root / "work").mkdir()
        with Runner(root / "work", plan.env()) as runner:
            for name, (folder, head, inputs) in models.items():
                bare_medians, harness_medians = [], []
                for pair in range(args.pairs):
                    job = PhaseJob(
                        phase="latency",
                        backend="transformers",
                        model_dir=str(folder),
                        format="safetensors",
                        task="image-classification" if head == "image" else "text-classification",
                        inputs_file=str(inputs),
                        intra_op_threads=plan.intra_op,
                        inter_op_threads=1,
                        latency=settings,
                    )
                    outcome = runner.run(job, Limits(timeout_s=1800), preload=TransformersBackend.preload)
                    if not outcome.ok or outcome.report is None or outcome.report.timing is None:
                        raise SystemExit(f"harness run failed: {outcome.reason}\n{outcome.stderr_tail}")
                    samples = outcome.report.timing.samples_ms
                    harness_medians.append(statistics.median(samples))
                    bare_medians.append(bare(folder, head, inputs, env, plan.intra_op, len(samples)))
                    print(
                        f"{name} pair {pair + 1}: bare {bare_medians[-1]:.4f} ms, "
                        f"harness {harness_medians[-1]:.4f} ms ({len(samples)} samples)",
                        flush=True,
                    )
                ratio = statistics.median(harness_medians) / statistics.median(bare_medians)
                verdict = "ok" if ratio <= 1.03 else "ABOVE TARGET"
                print(f"{name}: harness / bare = {ratio:.4f} (target <= 1.03: {verdict})", flush=True)


if __name__ == "__main__":
    main()

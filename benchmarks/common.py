"""What the benchmark scripts share: the models they measure, the settings, the machine's state.

Models are random-init and saved with save_pretrained (safetensors), with their fixed inputs as
an .npz, so every script (and optimum-benchmark in its own venv) reads the same files:

- `vit`: the demo's ViT (hidden 64, 2 layers, 8×8 one-channel digits), the sub-millisecond case;
- `vit-deep`: the same with twice the layers (a known, real slow-down);
- `bert-base`: BERT-base-sized (hidden 768, 12 layers, vocabulary 30522), sequence length 128;
- `tiny-bert`: hidden 64, 2 layers, sequence length 128, for smoke runs.

Run the scripts from the repository root (`python benchmarks/NAME.py`): they import this module
from their own folder and the grader from the checkout.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MODEL_NAMES = ("vit", "vit-deep", "bert-base", "tiny-bert")
SEQUENCE_LENGTH = 128

# Short timing bounds for smoke runs (tests/test_benchmarks.py): the figures mean little.
QUICK_LATENCY: dict[str, float | int] = {
    "warmup_block": 3,
    "warmup_tolerance": 0.5,
    "warmup_max_s": 0.5,
    "min_iters": 10,
    "min_time_s": 0.1,
    "max_time_s": 1.0,
    "max_iters": 2000,
    "stable_tolerance": 0.5,
}


@dataclass(frozen=True)
class BenchModel:
    name: str
    folder: Path  # save_pretrained folder
    task: str  # the grader's task name, which picks the model head
    inputs: Path  # .npz of the fixed inputs, batch size 1

    @property
    def shapes(self) -> dict[str, list[int]]:
        with np.load(self.inputs) as data:
            return {name: list(data[name].shape) for name in data.files}


def quiet_transformers() -> None:
    """No progress bars or info logs from save_pretrained / from_pretrained in the figures' output."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def build_model(name: str, root: Path) -> BenchModel:
    """Save model ``name`` under ``root / name`` with its inputs; the same bytes every time."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, ViTConfig, ViTForImageClassification

    quiet_transformers()
    torch.manual_seed(0)
    folder = root / name
    rng = np.random.default_rng(0)
    inputs: dict[str, np.ndarray]
    if name in ("vit", "vit-deep"):
        config = ViTConfig(
            image_size=8,
            patch_size=4,
            num_channels=1,
            hidden_size=64,
            num_hidden_layers=2 if name == "vit" else 4,  # vit-deep: twice the layers
            num_attention_heads=4,
            intermediate_size=128,
            num_labels=10,
        )
        ViTForImageClassification(config).eval().save_pretrained(folder)
        inputs = {"pixel_values": rng.standard_normal((1, 1, 8, 8)).astype(np.float32)}
        task = "image-classification"
    elif name in ("bert-base", "tiny-bert"):
        small = {
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "intermediate_size": 128,
        }
        # BertConfig's defaults are BERT-base: 768 hidden, 12 layers, 12 heads, 30522 tokens.
        config = BertConfig(num_labels=2, **(small if name == "tiny-bert" else {}))
        BertForSequenceClassification(config).eval().save_pretrained(folder)
        ids = rng.integers(1000, 30000, size=(1, SEQUENCE_LENGTH)).astype(np.int64)
        inputs = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
        task = "text-classification"
    else:
        raise SystemExit(f"unknown model {name!r}: one of {', '.join(MODEL_NAMES)}")
    path = root / f"{name}.npz"
    np.savez(path, **inputs)
    return BenchModel(name=name, folder=folder, task=task, inputs=path)


def export_onnx(model: BenchModel, target: Path) -> Path:
    """The model's ONNX export (TorchScript exporter, fixed input shapes) as ``target/model.onnx``."""
    import torch
    from transformers import AutoModelForImageClassification, AutoModelForSequenceClassification

    auto = AutoModelForImageClassification if model.task == "image-classification" else None
    module = (auto or AutoModelForSequenceClassification).from_pretrained(model.folder).eval()
    with np.load(model.inputs) as data:
        feed = {name: torch.from_numpy(data[name]) for name in data.files}
    target.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (),
            str(target / "model.onnx"),
            kwargs=feed,
            input_names=list(feed),
            output_names=["logits"],
            dynamo=False,
        )
    return target / "model.onnx"


def course_latency(quick: bool) -> Any:
    """The course's latency settings (what a grading run uses), or QUICK_LATENCY for smoke runs."""
    from grader.course import load_course
    from grader.course.model import LatencySettings

    if quick:
        return LatencySettings(**QUICK_LATENCY)
    return load_course(REPO / "course.yaml").runner.latency


def course_rounds() -> int:
    from grader.course import load_course

    return load_course(REPO / "course.yaml").runner.speed.min_rounds


# --- the machine -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuTimes:
    busy: int  # jiffies spent on anything but idle and iowait, all CPUs together
    total: int


def cpu_times() -> CpuTimes:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])  # guest time is already inside user time
    return CpuTimes(busy=total - idle, total=total)


def busy_share(start: CpuTimes, end: CpuTimes) -> float:
    """How busy the whole machine was between two readings (0..1 of all its CPUs), us included."""
    total = end.total - start.total
    return (end.busy - start.busy) / total if total > 0 else 0.0


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def cv(values: list[float]) -> float:
    """std / mean (sample std): the spread of run medians that the targets are written against."""
    import statistics

    return statistics.stdev(values) / statistics.fmean(values) if len(values) > 1 else 0.0

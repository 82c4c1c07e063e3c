"""How long each quality task takes on its shipped, demo-sized eval set with a tiny model.

    python benchmarks/task_times.py [--repeats 3] [--threads 1] [--tasks causal-lm,seq2seq]

For every task: the tiny random-init model of the end-to-end tests (tests/task_models.py: BERT
classifiers, a ViT, a Llama-like causal LM, a T5-like seq2seq, a wav2vec2 CTC model) and its ONNX
export; the whole shipped eval set (no `limit`), loaded with `load_eval_data` exactly as a quality
child loads it; the task's `evaluate` at batch size 1 through the transformers backend and through
onnxruntime, in this process with `--threads` intra-op threads. Each figure is the median of
`--repeats` runs (data loading from a cold process is the first run; later runs hit the OS cache,
the median says what a child pays). Causal-lm also gets its generation latency (the course's
default prompt/new tokens are cut to the tiny model's setting, 8 + 8). The figures are for the
closing note of issue #4; they are what the quality phase adds to a grading job per model, on top of
loading the model (which the harness reports as load time).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the tiny models live with the tests that use them


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """(median seconds, the last result) of ``repeats`` calls."""
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), result


def course_for(task: str, dataset_id: str, params: dict[str, Any]) -> Any:
    from grader.course.model import Course

    return Course.model_validate(
        {
            "name": {"ru": "Замеры", "en": "Timings"},
            "homeworks": [{"id": 1, "title": {"ru": "ДЗ", "en": "HW"}, "methods": ["baseline"]}],
            "tasks": {task: {"dataset": dataset_id, "params": params}},
            "datasets": {dataset_id: {"task": task, "source": {"builtin": dataset_id}}},
        }
    )


def measure_task(task: str, root: Path, repeats: int, threads: int) -> dict[str, Any]:
    from task_models import build

    from grader.harness.backends.base import LoadSpec
    from grader.harness.backends.onnxruntime import OnnxRuntimeBackend
    from grader.harness.backends.transformers import TransformersBackend
    from grader.harness.data import load_eval_data
    from grader.harness.tasks import TASKS

    model = build(task, root)
    course = course_for(task, model.dataset_id, model.params)
    load_s, data = timed(lambda: load_eval_data(model.dataset_id, course, REPO), repeats)
    row: dict[str, Any] = {
        "task": task,
        "dataset": model.dataset_id,
        "items": len(data.items),
        "load_s": load_s,
    }
    for label, backend_cls, folder, fmt in (
        ("transformers", TransformersBackend, model.folder, "safetensors"),
        ("onnxruntime", OnnxRuntimeBackend, model.onnx, "onnx"),
    ):
        runner = TASKS.load(task)(folder, model.params)
        spec = LoadSpec(folder, fmt, task=task, intra_op_threads=threads, inter_op_threads=1)
        with backend_cls(spec) as backend:
            eval_s, metrics = timed(lambda b=backend, r=runner: r.evaluate(b, data, 1), repeats)
            row[f"{label}_s"] = eval_s
            row[f"{label}_metric"] = metrics[TASKS.load(task).primary]
            if task == "causal-lm" and label == "transformers":
                gen_s, timing = timed(lambda b=backend, r=runner: r.generation_latency(b, repeats=3), 1)
                row["generation"] = (
                    f"{timing.prompt_tokens}+{timing.new_tokens} tokens: TTFT "
                    f"{timing.time_to_first_token.stats.median:.2f} ms, TPOT "
                    f"{timing.time_per_output_token.stats.median:.2f} ms/token ({gen_s:.2f} s for 1+3 runs)"
                )
    return row


def main(argv: list[str] | None = None) -> int:
    from task_models import TASKS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--tasks", default=",".join(TASKS))
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    logging.getLogger("transformers").setLevel(logging.ERROR)
    rows = []
    with tempfile.TemporaryDirectory(prefix="task-times-") as tmp:
        for task in args.tasks.split(","):
            rows.append(measure_task(task, Path(tmp), args.repeats, args.threads))
            print(f"… {task} done", file=sys.stderr, flush=True)

    header = (
        "| task | eval set | items | data load | evaluate (transformers) | evaluate (onnxruntime) "
        "| primary metric (transformers / onnxruntime) |"
    )
    print(f"\ntorch {torch.__version__}, {args.threads} thread(s), batch size 1, median of {args.repeats}\n")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        print(
            f"| {r['task']} | {r['dataset']} | {r['items']} | {r['load_s']:.3f} s | "
            f"{r['transformers_s']:.3f} s | {r['onnxruntime_s']:.3f} s | "
            f"{r['transformers_metric']:.4g} / {r['onnxruntime_metric']:.4g} |"
        )
    for r in rows:
        if "generation" in r:
            print(f"\n{r['task']} generation (transformers, KV cache): {r['generation']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

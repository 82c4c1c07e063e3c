"""What the tasks share: reading the model folder's JSON files, batching, running one batch through
a backend, finding the logits, and mapping the model's class ids onto the dataset's labels."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.findings import Finding, Location
from grader.harness.backends.base import Backend
from grader.harness.tasks.base import EvalData, TaskError


def task_error(
    code: str,
    message: str,
    *,
    file: str | Path,
    field: str | None = None,
    expected: str = "",
    found: str = "",
    hint: str = "",
) -> TaskError:
    return TaskError(
        [
            Finding(
                code=code,
                location=Location(file=str(file), field=field),
                message=message,
                expected=expected,
                found=found,
                hint=hint,
            )
        ]
    )


def read_model_json(model_dir: Path, name: str, *, required: bool = False, why: str = "") -> dict[str, Any]:
    """A JSON object from the model folder; {} when it is absent and not required."""
    path = model_dir / name
    if not path.is_file():
        if required:
            raise task_error(
                "Q003",
                f"the model folder has no {name}" + (f" ({why})" if why else ""),
                file=path,
                expected=f"{name} next to the weights",
                found=", ".join(sorted(p.name for p in model_dir.iterdir())[:12])
                if model_dir.is_dir()
                else "",
                hint="save it with the model (save_pretrained writes it)",
            )
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise task_error(
            "Q003",
            f"{name} is not valid JSON",
            file=path,
            found=str(error)[:200],
            hint="save it again with save_pretrained",
        ) from None
    if not isinstance(data, dict):
        raise task_error("Q003", f"{name} is not a JSON object", file=path, found=type(data).__name__)
    return data


def batches(items: Sequence[dict[str, Any]], batch_size: int) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """(batch, real count): every batch has exactly ``batch_size`` items.

    The last batch is filled up by repeating its last item, and the caller drops the outputs past
    the real count: models exported with a fixed batch dimension (ONNX, TensorRT) run every batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    for start in range(0, len(items), batch_size):
        batch = list(items[start : start + batch_size])
        real = len(batch)
        batch += [batch[-1]] * (batch_size - real)
        yield batch, real


def run_batch(backend: Backend, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return backend.to_numpy(backend.run(backend.prepare(inputs)))


def pick_output(outputs: Mapping[str, np.ndarray], name: str, model_dir: Path) -> np.ndarray:
    """``outputs[name]``, or the only output when the model names it differently (ONNX exports)."""
    if name in outputs:
        return np.asarray(outputs[name])
    if len(outputs) == 1:
        return np.asarray(next(iter(outputs.values())))
    raise task_error(
        "Q005",
        f"the model returned no {name!r} output",
        file=model_dir,
        expected=f"an output named {name!r}",
        found=", ".join(outputs) or "no outputs",
        hint=f"export the model with its output named {name!r}",
    )


def pick_input(input_names: Sequence[str], wanted: str, model_dir: Path) -> str:
    """The model's input for ``wanted``: that name, or the only input the model has."""
    if wanted in input_names:
        return wanted
    if len(input_names) == 1:
        return input_names[0]
    raise task_error(
        "Q004",
        f"the model takes no {wanted!r} input",
        file=model_dir,
        expected=f"an input named {wanted!r}",
        found=", ".join(input_names) or "no inputs",
        hint=f"export the model with its input named {wanted!r}",
    )


# --- labels ------------------------------------------------------------------------------------


def dataset_labels(data: EvalData) -> list[str]:
    """The eval dataset's label list, which a task that names classes cannot do without."""
    if not data.labels:
        raise task_error(
            "E006",
            f"the eval dataset {data.dataset_id!r} has no label list",
            file="course.yaml",
            field=f"datasets.{data.dataset_id}.labels",
            hint="give the dataset `labels:` in course.yaml",
        )
    return data.labels


_GENERIC_LABEL = re.compile(r"^LABEL_(\d+)$")


@dataclass(frozen=True)
class LabelMap:
    """How the model's output classes line up with the dataset's labels."""

    to_dataset: dict[int, int]  # model class id → dataset label index; ids not listed are wrong answers
    model_labels: int | None  # classes the model declares (None: config.json has no id2label)
    positional: bool  # matched by position (generic LABEL_i names, or none), not by name

    def predictions(self, model_ids: np.ndarray) -> np.ndarray:
        """Model class ids → dataset label indices; -1 for a class the dataset does not have."""
        return np.array([self.to_dataset.get(int(i), -1) for i in model_ids], dtype=np.int64)

    def check_width(self, width: int, model_dir: Path, dataset_labels: Sequence[str]) -> None:
        expected = self.model_labels if self.model_labels is not None else len(dataset_labels)
        if width != expected:
            source = "config.json id2label" if self.model_labels is not None else "the dataset's labels"
            raise task_error(
                "Q005",
                f"the model scores {width} classes, but {source} has {expected}",
                file=model_dir / "config.json",
                field="id2label",
                expected=f"logits of shape [batch, {expected}]",
                found=f"[batch, {width}]",
                hint="set id2label in config.json to the classes the head predicts",
            )


def _normalised(name: str) -> str:
    return name.strip().casefold()


def label_mapping(model_dir: Path, dataset_labels: Sequence[str], *, field: str = "id2label") -> LabelMap:
    """Map the model's classes (config.json ``id2label``) onto the dataset's label names.

    Names are compared case-insensitively. A model whose labels are all generic (``LABEL_0``,
    ``LABEL_1``, ...) or absent is matched by position, which needs as many classes as the
    dataset has. Named labels that do not cover the dataset's labels are an error: scoring them
    would silently give 0.
    """
    config = read_model_json(model_dir, "config.json")
    raw = config.get(field)
    if not isinstance(raw, dict) or not raw:
        return LabelMap({i: i for i in range(len(dataset_labels))}, None, positional=True)
    try:
        id2label = {int(key): str(value) for key, value in raw.items()}
    except ValueError:
        raise task_error(
            "Q002",
            "config.json id2label has keys that are not class ids",
            file=model_dir / "config.json",
            field=field,
            expected='{"0": "negative", "1": "positive", ...}',
            found=", ".join(map(str, list(raw)[:8])),
        ) from None
    if all(_GENERIC_LABEL.match(name) for name in id2label.values()):
        if len(id2label) != len(dataset_labels):
            raise _label_mismatch(model_dir, field, id2label, dataset_labels)
        return LabelMap({i: i for i in range(len(dataset_labels))}, len(id2label), positional=True)
    index = {_normalised(name): i for i, name in enumerate(dataset_labels)}
    to_dataset = {
        model_id: index[_normalised(name)]
        for model_id, name in id2label.items()
        if _normalised(name) in index
    }
    if set(to_dataset.values()) != set(range(len(dataset_labels))):
        raise _label_mismatch(model_dir, field, id2label, dataset_labels)
    return LabelMap(to_dataset, len(id2label), positional=False)


def _label_mismatch(
    model_dir: Path, field: str, id2label: dict[int, str], dataset_labels: Sequence[str]
) -> TaskError:
    wanted = {str(i): name for i, name in enumerate(dataset_labels)}
    return task_error(
        "Q002",
        "the model's labels do not match the eval dataset's labels",
        file=model_dir / "config.json",
        field=field,
        expected=f"the dataset's labels: {list(dataset_labels)}",
        found=f"{field}: {dict(sorted(id2label.items()))}",
        hint=f"name the classes in config.json, e.g. {field}: {json.dumps(wanted, ensure_ascii=False)} "
        "(in the order your classifier head predicts them)",
    )


def classification_scores(y_true: np.ndarray, y_pred: np.ndarray, n_labels: int) -> dict[str, float]:
    """Every classification metric a task may report, over dataset label indices.

    Predictions of a class the dataset lacks (-1) count as wrong; macro averages run over the
    dataset's labels that occur in the truth or the predictions (grader.harness.metrics).
    """
    from grader.harness import metrics

    present = sorted((set(y_true.tolist()) | set(y_pred.tolist())) - {-1})
    per_class = metrics.precision_recall_f1(y_true, y_pred, labels=[c for c in present if c < n_labels])
    return {
        "accuracy": metrics.accuracy(y_true, y_pred),
        "macro_precision": per_class.macro_precision,
        "macro_recall": per_class.macro_recall,
        "macro_f1": per_class.macro_f1,
        "mcc": metrics.matthews_corrcoef(y_true, y_pred),
    }

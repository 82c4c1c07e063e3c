"""The evaluation loop that text and image classification share: batches through the backend,
argmax of the logits, model classes mapped onto the dataset's labels, then the metrics."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np

from grader.harness.backends.base import Backend
from grader.harness.tasks.base import EvalData, MetricInfo, Task
from grader.harness.tasks.common import (
    batches,
    classification_scores,
    dataset_labels,
    label_mapping,
    pick_output,
    run_batch,
    task_error,
)

ACCURACY = MetricInfo(direction="higher", bounded=True, label_en="Accuracy", label_ru="Доля верных ответов")
MACRO_F1 = MetricInfo(direction="higher", bounded=True, label_en="Macro F1", label_ru="Macro-F1")
MACRO_PRECISION = MetricInfo(
    direction="higher", bounded=True, label_en="Macro precision", label_ru="Macro-точность (precision)"
)
MACRO_RECALL = MetricInfo(
    direction="higher", bounded=True, label_en="Macro recall", label_ru="Macro-полнота (recall)"
)
# MCC lies in [-1, 1], so a claim of `82` cannot be read as a percentage of it.
MCC = MetricInfo(
    direction="higher",
    bounded=False,
    label_en="Matthews correlation (MCC)",
    label_ru="Корреляция Мэтьюса (MCC)",
)


class ClassificationTask(Task):
    """One label per item, scored from the argmax of the model's ``logits``."""

    label_field = "label"

    @abstractmethod
    def batch_inputs(self, batch: Sequence[dict[str, Any]], input_names: list[str]) -> dict[str, np.ndarray]:
        """The model's inputs for a batch of eval items."""

    def predict(self, backend: Backend, data: EvalData, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """(true label indices, predicted label indices); -1 marks a class the dataset does not have."""
        labels = self._labels(data)
        mapping = label_mapping(self.model_dir, labels)
        input_names = backend.input_names()
        predicted: list[np.ndarray] = []
        for batch, real in batches(data.items, batch_size):
            outputs = run_batch(backend, self.batch_inputs(batch, input_names))
            logits = pick_output(outputs, "logits", self.model_dir)
            if logits.ndim != 2 or logits.shape[0] != len(batch):
                raise task_error(
                    "Q005",
                    "the model's logits have an unexpected shape",
                    file=self.model_dir,
                    expected=f"[{len(batch)}, number of classes]",
                    found=str(list(logits.shape)),
                    hint="a sequence-classification head returns one row of class scores per item",
                )
            mapping.check_width(logits.shape[1], self.model_dir, labels)
            predicted.append(mapping.predictions(np.argmax(logits[:real], axis=-1)))
        index = {name: i for i, name in enumerate(labels)}
        y_true = np.array([index[item[self.label_field]] for item in data.items], dtype=np.int64)
        return y_true, np.concatenate(predicted)

    def evaluate(self, backend: Backend, data: EvalData, batch_size: int) -> dict[str, float]:
        y_true, y_pred = self.predict(backend, data, batch_size)
        scores = classification_scores(y_true, y_pred, len(self._labels(data)))
        return {name: scores[name] for name in self.metrics}

    def _labels(self, data: EvalData) -> list[str]:
        return dataset_labels(data)

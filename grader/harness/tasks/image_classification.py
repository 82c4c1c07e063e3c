"""Image classification: accuracy, macro precision, macro recall and macro F1.

Pixels are prepared from the model folder's preprocessor_config.json by numpy/PIL code
(grader.harness.tasks.vision), identical for every backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from grader.harness.tasks.classification import (
    ACCURACY,
    MACRO_F1,
    MACRO_PRECISION,
    MACRO_RECALL,
    ClassificationTask,
)

if TYPE_CHECKING:
    from grader.harness.tasks.vision import ImagePreprocessor


class ImageClassification(ClassificationTask):
    name = "image-classification"
    model_heads = ("AutoModelForImageClassification",)
    input_roles = ("pixels",)
    main_input_roles = ("pixels",)
    sole_input_role = "pixels"  # the harness feeds the only input, whatever its name (pick_input)
    metrics = {
        "accuracy": ACCURACY,
        "macro_precision": MACRO_PRECISION,
        "macro_recall": MACRO_RECALL,
        "macro_f1": MACRO_F1,
    }
    primary = "accuracy"
    fields = ("image", "label")
    default_params = {"seed": 0}

    @cached_property
    def preprocessor(self) -> ImagePreprocessor:
        from grader.harness.tasks.vision import ImagePreprocessor

        return ImagePreprocessor(self.model_dir)

    def latency_inputs(self, batch_size: int, input_names: list[str]) -> dict[str, np.ndarray]:
        from grader.harness.tasks.common import pick_input

        name = pick_input(input_names, "pixel_values", self.model_dir)
        return {name: self.preprocessor.latency_batch(batch_size, seed=int(self.params["seed"]))}

    def batch_inputs(self, batch: Sequence[dict[str, Any]], input_names: list[str]) -> dict[str, np.ndarray]:
        from grader.harness.tasks.common import pick_input

        name = pick_input(input_names, "pixel_values", self.model_dir)
        return {name: self.preprocessor([item["image"] for item in batch])}

"""Text classification (sentiment, topics, NLI pairs): accuracy, macro F1 and MCC.

Texts are tokenised from the model folder's tokenizer.json (grader.harness.tasks.text) and
padded or truncated to the course's ``max_length``, so fixed-shape exports run too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from grader.harness.tasks.classification import ACCURACY, MACRO_F1, MCC, ClassificationTask
from grader.harness.tasks.text import LATENCY_TEXT, TextTask, select_inputs


class TextClassification(TextTask, ClassificationTask):
    name = "text-classification"
    model_heads = ("AutoModelForSequenceClassification",)
    input_roles = ("token_ids", "attention_mask", "token_type_ids", "position_ids")
    main_input_roles = ("token_ids",)
    metrics = {"accuracy": ACCURACY, "macro_f1": MACRO_F1, "mcc": MCC}
    primary = "accuracy"
    fields = ("text", "label")
    optional_fields = ("text_pair",)
    default_params = {"max_length": 128, "latency_text": LATENCY_TEXT}

    def latency_inputs(self, batch_size: int, input_names: list[str]) -> dict[str, np.ndarray]:
        return self.filled_inputs(batch_size, input_names)

    def batch_inputs(self, batch: Sequence[dict[str, Any]], input_names: list[str]) -> dict[str, np.ndarray]:
        pairs = [item["text_pair"] for item in batch] if "text_pair" in batch[0] else None
        encoded = self.encoder.encode([item["text"] for item in batch], pairs)
        return select_inputs(encoded, input_names, self.model_dir)

"""Token classification (named entities): entity-level precision, recall and F1, seqeval-style.

Items are pre-split words with one IOB1/IOB2 tag each. The words are tokenised together (the
tokenizer marks which word each sub-token came from) and padded/truncated to ``max_length``.
A word's prediction is the model's class at its *first* sub-token (the convention Hugging Face
training scripts label with); a word the truncation cut off, or a class the dataset does not
have, is predicted `O`. Entities are then read from the word tags with conlleval's chunking and
matched exactly (type and span) — grader.harness.metrics.entity_scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from grader.harness.backends.base import Backend
from grader.harness.tasks.base import EvalData, MetricInfo, Task
from grader.harness.tasks.text import LATENCY_TEXT, TextTask, select_inputs

OUTSIDE = "O"


class TokenClassification(TextTask, Task):
    name = "token-classification"
    model_heads = ("AutoModelForTokenClassification",)
    input_roles = ("token_ids", "attention_mask", "token_type_ids", "position_ids")
    main_input_roles = ("token_ids",)
    metrics = {
        "entity_f1": MetricInfo("higher", True, "Entity F1", "F1 по сущностям"),
        "entity_precision": MetricInfo(
            "higher", True, "Entity precision", "Точность по сущностям (precision)"
        ),
        "entity_recall": MetricInfo("higher", True, "Entity recall", "Полнота по сущностям (recall)"),
        "token_accuracy": MetricInfo("higher", True, "Word-level tag accuracy", "Доля верных тегов слов"),
    }
    primary = "entity_f1"
    fields = ("tokens", "tags")
    label_field = "tags"
    default_params = {"max_length": 128, "latency_text": LATENCY_TEXT}

    def latency_inputs(self, batch_size: int, input_names: list[str]) -> dict[str, np.ndarray]:
        return self.filled_inputs(batch_size, input_names)

    def predict(self, backend: Backend, data: EvalData, batch_size: int) -> list[list[str]]:
        """The predicted tag of every word of every item."""
        from grader.harness.tasks.common import batches, label_mapping, pick_output, run_batch, task_error

        labels = data.labels or []
        mapping = label_mapping(self.model_dir, labels)
        input_names = backend.input_names()
        predicted: list[list[str]] = []
        for batch, real in batches(data.items, batch_size):
            encoded, word_ids = self.encoder.encode_words([item["tokens"] for item in batch])
            logits = pick_output(
                run_batch(backend, select_inputs(encoded, input_names, self.model_dir)),
                "logits",
                self.model_dir,
            )
            if logits.ndim != 3 or logits.shape[:2] != encoded["input_ids"].shape:
                raise task_error(
                    "Q005",
                    "the model's logits are not one row of class scores per token",
                    file=self.model_dir,
                    expected=f"[{len(batch)}, {encoded['input_ids'].shape[1]}, number of tags]",
                    found=str(list(logits.shape)),
                    hint="use a token-classification head (AutoModelForTokenClassification)",
                )
            mapping.check_width(logits.shape[2], self.model_dir, labels)
            classes = mapping.predictions(np.argmax(logits, axis=-1).ravel()).reshape(logits.shape[:2])
            for row in range(real):
                predicted.append(_word_tags(len(batch[row]["tokens"]), word_ids[row], classes[row], labels))
        return predicted

    def evaluate(self, backend: Backend, data: EvalData, batch_size: int) -> dict[str, float]:
        from grader.harness.metrics import entity_scores

        predicted = self.predict(backend, data, batch_size)
        truth = [list(item["tags"]) for item in data.items]
        scores = entity_scores(truth, predicted)
        words = sum(len(tags) for tags in truth)
        right = sum(
            t == p
            for tags, guesses in zip(truth, predicted, strict=True)
            for t, p in zip(tags, guesses, strict=True)
        )
        return {
            "entity_f1": scores.f1,
            "entity_precision": scores.precision,
            "entity_recall": scores.recall,
            "token_accuracy": right / words if words else 0.0,
        }


def _word_tags(
    words: int, word_ids: Sequence[int | None], classes: np.ndarray, labels: Sequence[Any]
) -> list[str]:
    """First sub-token of each word decides its tag; words with no surviving sub-token are `O`."""
    tags = [OUTSIDE] * words
    seen: set[int] = set()
    for position, word in enumerate(word_ids):
        if word is None or word in seen or word >= words:
            continue
        seen.add(word)
        index = int(classes[position])
        tags[word] = str(labels[index]) if index >= 0 else OUTSIDE
    return tags

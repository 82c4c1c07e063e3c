"""The task contract: what a quality task feeds a model for latency runs, and how it scores it.

Task modules import heavy libraries (torch, tokenizers) inside methods, never at module level:
validation imports a task class only to read its metric declarations.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from grader.errors import InputError
from grader.harness.backends.base import Backend, NotMeasurable
from grader.notes import Note
from grader.task_catalog import MetricInfo  # declared below the stages; re-exported for task modules

if TYPE_CHECKING:
    from grader.harness.stats import Samples

__all__ = [
    "EvalData",
    "Evaluation",
    "GenerationTiming",
    "MetricInfo",
    "Task",
    "TaskError",
    "TaskNotMeasurable",
]


@dataclass(frozen=True)
class EvalData:
    """A loaded eval dataset: items in a deterministic order, and the digest of what was loaded."""

    dataset_id: str
    digest: str  # "sha256:<hex>" of the canonical bytes of the data actually used
    items: list[dict[str, Any]]
    labels: list[str] | None = None
    total: int | None = None  # items in the source before `limit` sampled from it
    seed: int | None = None  # the sampling seed, when a sample was drawn
    # Further course datasets the task scores beside this one, by role (`Task.companion_datasets`:
    # causal-lm's prompt set), loaded by the harness before evaluate.
    companions: Mapping[str, EvalData] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation measured: the scores, and each metric the task could not measure for this
    model with why (a Note of grader.messages), while the others stand: causal-lm's BLEU / chrF of a
    graph that cannot generate, beside its perplexity."""

    scores: dict[str, float]
    unmeasured: dict[str, Note] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationTiming:
    prompt_tokens: int
    new_tokens: int
    kv_cache: bool  # False: every step re-ran the whole sequence (the backend exposes no cache)
    time_to_first_token: Samples  # ms, one sample per repeat
    time_per_output_token: Samples  # ms, one sample per generated token after the first, all repeats
    generated: list[int]  # the token ids of the last repeat (greedy, so every repeat is the same)

    @classmethod
    def of_runs(
        cls,
        decode: Callable[[], tuple[list[int], list[int]]],
        *,
        prompt_tokens: int,
        new_tokens: int,
        kv_cache: bool,
        repeats: int,
        warmup: int,
    ) -> GenerationTiming:
        """Run ``decode`` (each step's time in ns, the generated tokens) ``warmup`` times untimed,
        then ``repeats`` times: the first step of each is the time to first token, the rest the
        time per output token."""
        from grader.harness.stats import Samples

        for _ in range(warmup):
            decode()
        first: list[float] = []
        later: list[float] = []
        generated: list[int] = []
        for _ in range(repeats):
            steps_ns, generated = decode()
            first.append(steps_ns[0] / 1e6)
            later.extend(step / 1e6 for step in steps_ns[1:])
        return cls(
            prompt_tokens=prompt_tokens,
            new_tokens=new_tokens,
            kv_cache=kv_cache,
            time_to_first_token=Samples.of(first, "ms"),
            time_per_output_token=Samples.of(later or [0.0], "ms"),
            generated=generated,
        )


class TaskError(InputError):
    """The model folder or the model's outputs do not fit the task (no tokenizer.json, labels that
    do not match the dataset's, no logits). Carries located findings; the harness reports the
    quality phase as FAILED with this text as the reason."""


class TaskNotMeasurable(TaskError, NotMeasurable):  # noqa: N818 - an outcome, as NotMeasurable
    """The model may well be right, but the grader cannot run it for this task yet (a split
    encoder/decoder export): the quality phase is NOT_MEASURABLE with this text as the reason,
    not FAILED."""


class Task(ABC):
    name: ClassVar[str]
    metrics: ClassVar[dict[str, MetricInfo]]
    primary: ClassVar[str]
    # The item fields an eval dataset must provide (its `columns:` map them to the file's columns),
    # the ones it may provide, and the field that holds class labels (a name, or a list of names
    # for per-token tags) that the loader checks against the dataset's `labels:`.
    fields: ClassVar[tuple[str, ...]] = ()
    optional_fields: ClassVar[tuple[str, ...]] = ()
    label_field: ClassVar[str | None] = None
    # Parameters the task understands, with the defaults used when the course sets none.
    default_params: ClassVar[dict[str, int | float | str | bool]] = {}
    # The task generates tokens: the harness also times generation (time to first token, time per
    # output token), and claims may give latency per token. Such a task overrides
    # generation_unsupported and generation_latency.
    generates_tokens: ClassVar[bool] = False
    # The transformers AutoModelFor... classes that can carry the task's head, tried in order by
    # the transformers backend: the task owns its head.
    model_heads: ClassVar[tuple[str, ...]] = ()
    # The input roles (grader.input_roles.ROLES) the task feeds an exported graph, the ones of which
    # a graph must take at least one, and the role of a graph's only input whatever its name. A
    # task that declares none feeds its graphs by their input names only, and takes no `inputs:`.
    input_roles: ClassVar[tuple[str, ...]] = ()
    main_input_roles: ClassVar[tuple[str, ...]] = ()
    sole_input_role: ClassVar[str | None] = None
    # Metrics measured only when a task param is set, metric → that param (causal-lm's BLEU and
    # chrF need a prompt set, `prompts`): validate refuses a claim of one the course leaves unset.
    metric_params: ClassVar[dict[str, str]] = {}

    def __init__(self, model_dir: Path, params: Mapping[str, Any] | None = None) -> None:
        """Pure: stores what it is given. ``model_dir`` holds config / tokenizer / preprocessor files."""
        self.model_dir = model_dir
        self.params = {**self.default_params, **(params or {})}

    def companion_datasets(self) -> dict[str, str]:
        """Course datasets the task also reads (role → dataset id, from its params): the harness
        loads each into ``EvalData.companions`` of the eval set it hands to evaluate."""
        return {}

    @abstractmethod
    def latency_inputs(self, batch_size: int, input_names: list[str]) -> dict[str, np.ndarray]:
        """Fixed, deterministic inputs for latency and memory runs at the course's batch size."""

    @abstractmethod
    def evaluate(self, backend: Backend, data: EvalData, batch_size: int) -> dict[str, float]:
        """Run the model over ``data`` and return every metric in ``metrics``."""

    def assess(self, backend: Backend, data: EvalData, batch_size: int) -> Evaluation:
        """``evaluate``, with the metrics it could not measure for this model and why. A task whose
        metrics stand or fall together (every one but causal-lm) leaves nothing unmeasured: its
        failure fails the quality phase."""
        return Evaluation(dict(self.evaluate(backend, data, batch_size)))

    def generation_unsupported(self, backend: Backend) -> str | None:
        """Why the harness does not time generation for this model, or None when it does."""
        return f"the {self.name} task does not generate tokens"

    def generation_latency(
        self,
        backend: Backend,
        *,
        repeats: int = 3,
        warmup: int = 1,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> GenerationTiming:
        """Time to first token and time per output token (tasks that generate tokens)."""
        raise NotImplementedError(f"the {self.name} task does not generate tokens")

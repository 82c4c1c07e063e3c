"""Which quality tasks exist and what they declare: the part of a task every stage may read.

Validate checks manifests and course.yaml against a task's metrics, fields and parameters, verify
needs its metric directions, and the harness runs it. The declarations live here, below all three
stages, so validate and verify never import the harness (stages import downward only); the task
classes themselves stay in grader.harness.tasks and are imported by name, on demand, through the
registry (their modules import torch and tokenizers only inside methods).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, cast

from grader.registry import Registry

if TYPE_CHECKING:  # a type only: the harness is imported when the registry loads a task
    from grader.harness.tasks.base import Task


@dataclass(frozen=True)
class MetricInfo:
    direction: Literal["higher", "lower"]  # which way is better
    bounded: bool  # lies in [0, 1] (so `82.8` in a claim means 82.8 %)
    label_en: str
    label_ru: str


class TaskDeclaration(Protocol):
    """What a task class declares (grader.harness.tasks.base.Task has all of it)."""

    name: ClassVar[str]
    metrics: ClassVar[dict[str, MetricInfo]]
    primary: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]
    optional_fields: ClassVar[tuple[str, ...]]
    label_field: ClassVar[str | None]
    default_params: ClassVar[dict[str, int | float | str | bool]]
    generates_tokens: ClassVar[bool]  # latency per generated token: timed, and claimable
    metric_params: ClassVar[dict[str, str]]  # metric → the param it needs set (causal-lm's bleu: prompts)
    input_roles: ClassVar[tuple[str, ...]]  # grader.input_roles: what it feeds a graph's inputs
    main_input_roles: ClassVar[tuple[str, ...]]
    sole_input_role: ClassVar[str | None]


# name → "module:Class". A new task: one module in grader/harness/tasks/, one line here, one
# entry in tests/test_task_contract.py.
TASKS: Registry[Task] = Registry(
    "task",
    "grader.harness.tasks.base:Task",
    {
        "text-classification": "grader.harness.tasks.text_classification:TextClassification",
        "image-classification": "grader.harness.tasks.image_classification:ImageClassification",
        "token-classification": "grader.harness.tasks.token_classification:TokenClassification",
        "causal-lm": "grader.harness.tasks.causal_lm:CausalLM",
        "seq2seq": "grader.harness.tasks.seq2seq:Seq2Seq",
        "speech-recognition": "grader.harness.tasks.speech_recognition:SpeechRecognition",
        "object-detection": "grader.harness.tasks.object_detection:ObjectDetection",
    },
)


def task_declaration(name: str) -> type[TaskDeclaration]:
    """The registered task's class, read for its declarations; UnknownNameError (a LookupError)
    for a name that is not registered. An import error of a registered task propagates: it is a
    bug in the grader, not an unknown task."""
    return cast("type[TaskDeclaration]", TASKS.load(name))

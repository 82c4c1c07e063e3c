"""Every registered task keeps the contract the other stages rely on: importing it is cheap (the
validator reads `metrics` without loading torch), its declarations are consistent, its
constructor does nothing but store, and each has a shipped eval set for its fields."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_tasks_support import make_course

from grader.harness.data import SHIPPED, load_eval_data
from grader.harness.tasks import TASKS
from grader.harness.tasks.base import MetricInfo, Task

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "transformers", "tokenizers", "PIL", "scipy", "sklearn", "onnxruntime")
# a shipped eval set per task, so every task can be graded out of the box
SHIPPED_FOR = {
    "text-classification": "sentiment-ru",
    "image-classification": None,  # digits-test is generated, not shipped
    "token-classification": "ner-ru",
    "causal-lm": "lm-ru",
    "seq2seq": "translation-en-ru",
    "speech-recognition": "asr-ru",
    "object-detection": "shapes-test",
}


def test_every_task_module_imports_without_heavy_libraries() -> None:
    code = (
        "import json, sys\n"
        "from grader.harness.tasks import TASKS\n"
        "classes = {name: TASKS.load(name) for name in TASKS}\n"
        "print(json.dumps(sorted(m for m in " + repr(HEAVY) + " if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("name", sorted(TASKS))
def test_declarations_are_consistent(name: str) -> None:
    task = TASKS.load(name)
    assert issubclass(task, Task) and task.name == name
    assert task.metrics and task.primary in task.metrics
    assert all(
        isinstance(info, MetricInfo) and info.direction in ("higher", "lower")
        for info in task.metrics.values()
    )
    assert all(info.label_en and info.label_ru for info in task.metrics.values())
    # Every field optional only where a task takes two kinds of set and checks the kind it uses
    # (causal-lm: a text set for perplexity, a prompt set of questions and answers for BLEU / chrF).
    assert task.fields or task.optional_fields
    assert task.label_field is None or task.label_field in task.fields
    assert not set(task.fields) & set(task.optional_fields)
    assert all(isinstance(v, int | float | str | bool) for v in task.default_params.values())


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_declares_its_abilities(name: str) -> None:
    import transformers

    task = TASKS.load(name)
    assert TASKS.base() is Task
    # The task owns its model head: the transformers backend asks it, and each class exists.
    assert task.model_heads and all(hasattr(transformers, head) for head in task.model_heads)
    assert isinstance(task.generates_tokens, bool)
    # Generating tokens is declared, and then implemented (the base's defaults refuse).
    implements = task.generation_latency is not Task.generation_latency
    assert implements is task.generates_tokens
    assert (task.generation_unsupported is not Task.generation_unsupported) is task.generates_tokens


@pytest.mark.parametrize("name", sorted(TASKS))
def test_input_roles_are_the_grader_vocabulary(name: str) -> None:
    from grader.input_roles import ROLES

    task = TASKS.load(name)
    assert set(task.input_roles) <= set(ROLES), "a role the feed (grader.harness.input_roles) cannot build"
    assert set(task.main_input_roles) <= set(task.input_roles)
    assert bool(task.main_input_roles) is bool(task.input_roles)
    assert task.sole_input_role is None or task.sole_input_role in task.input_roles


@pytest.mark.parametrize("name", sorted(TASKS))
def test_constructor_is_pure(name: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    task = TASKS.load(name)(missing, {"custom": 1})
    assert task.model_dir == missing and task.params["custom"] == 1
    assert not missing.exists()


@pytest.mark.parametrize("name", sorted(TASKS))
def test_each_task_has_a_shipped_eval_set(name: str) -> None:
    builtin = SHIPPED_FOR[name] or "digits-test"
    assert builtin in SHIPPED or builtin == "digits-test"
    course = make_course({"d": {"task": name, "source": {"builtin": builtin}, "limit": 3}})
    data = load_eval_data("d", course, REPO)
    task = TASKS.load(name)
    assert len(data.items) == 3 and all(set(task.fields) <= set(item) for item in data.items)

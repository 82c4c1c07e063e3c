"""M004's hint never sends a team to a task of another kind (NER is not sentence classification)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_validate_manifest import VALID, Repo, errors, line_of

from grader.harness.tasks import TASKS
from grader.validate.task_names import TASK_ALIASES, TASK_KINDS, intended_task, task_hint


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)  # its course grades text- and image-classification only


def m004_hint(repo: Repo, task: str) -> str:
    text = VALID.replace("task: text-classification", f"task: {task}")
    result = repo.validate(repo.put(text))
    assert errors(result) == [("M004", line_of(text, f"task: {task}"))]
    return next(f.hint for f in result.findings if f.code == "M004")


@pytest.mark.parametrize("written", ["token-classification", "ner", "NER", "token-clasification"])
def test_an_ner_submission_is_not_offered_text_classification(repo: Repo, written: str) -> None:
    hint = m004_hint(repo, written)
    assert "text-classification" not in hint
    assert "'token-classification'" in hint and "NER" in hint and "not a label per sentence" in hint
    assert "does not grade it" in hint and "course.yaml" in hint


def test_a_misspelt_graded_task_is_still_suggested(repo: Repo) -> None:
    hint = m004_hint(repo, "text-clasification")
    assert hint.startswith("did you mean 'text-classification' (one label per text")


def test_a_name_of_no_task_gets_no_guess(repo: Repo) -> None:
    assert m004_hint(repo, "reinforcement-learning") == "the task decides which metrics are measured"


def test_every_task_has_a_description_and_every_alias_a_task() -> None:
    assert set(TASK_KINDS) == set(TASKS)  # a new task gets its words here
    assert set(TASK_ALIASES.values()) <= set(TASKS)
    assert not set(TASK_ALIASES) & set(TASKS)


@pytest.mark.parametrize(
    ("written", "task"),
    [
        ("automatic-speech-recognition", "speech-recognition"),
        ("text-generation", "causal-lm"),
        ("translation", "seq2seq"),
        ("Seq2Seq", "seq2seq"),
        ("token-classificaton", "token-classification"),
    ],
)
def test_aliases_and_misspellings_resolve_to_their_own_kind(written: str, task: str) -> None:
    assert intended_task(written) == task
    assert task_hint(written, [task]).startswith(f"did you mean {task!r}")

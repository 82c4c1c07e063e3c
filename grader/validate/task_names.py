"""The hint of M004 (a task the course does not grade): what the team most likely meant.

A plain closest-spelling match is wrong here: `token-classification` is one edit-distance step
from `text-classification`, but NER scored as sentence classification measures something else
entirely. So a hint only ever names a task of the kind the team wrote (the name itself, an alias
such as a Hugging Face pipeline tag, or a misspelling of a registered task), says what that task
scores, and, when the course does not grade it, says so instead of offering another task.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection

from grader.task_catalog import TASKS

# Names teams write for a task (Hugging Face pipeline tags and common abbreviations) → the task.
TASK_ALIASES: dict[str, str] = {
    "ner": "token-classification",
    "named-entity-recognition": "token-classification",
    "sequence-classification": "text-classification",
    "sentiment-analysis": "text-classification",
    "text-generation": "causal-lm",
    "language-modeling": "causal-lm",
    "causal-language-modeling": "causal-lm",
    "translation": "seq2seq",
    "summarization": "seq2seq",
    "text2text-generation": "seq2seq",
    "asr": "speech-recognition",
    "automatic-speech-recognition": "speech-recognition",
    "detection": "object-detection",
    "yolo": "object-detection",
}

# What each task scores, in the words a team would recognise.
TASK_KINDS: dict[str, str] = {
    "text-classification": "one label per text, scored by accuracy",
    "token-classification": "a tag per word, as in NER, scored by entity F1; not a label per sentence",
    "image-classification": "one label per image, scored by accuracy",
    "causal-lm": "next-token prediction, scored by perplexity (and BLEU / chrF of greedy answers)",
    "seq2seq": "text to text (translation), scored by BLEU / chrF",
    "speech-recognition": "audio to text, scored by WER / CER",
    "object-detection": "boxes and classes per image (YOLO exports), scored by COCO mAP",
}

NO_GUESS = "the task decides which metrics are measured"


def intended_task(name: str) -> str | None:
    """The registered task ``name`` stands for: itself, an alias, or a close misspelling."""
    wanted = name.strip().lower()
    if wanted in TASKS:
        return wanted
    if wanted in TASK_ALIASES:
        return TASK_ALIASES[wanted]
    close = difflib.get_close_matches(wanted, list(TASKS), n=1, cutoff=0.6)
    return close[0] if close else None


def task_hint(name: str, graded: Collection[str]) -> str:
    """M004's hint for ``name``; ``graded`` are the tasks this course grades."""
    guess = intended_task(name)
    if guess is None:
        return NO_GUESS
    kind = TASK_KINDS.get(guess)
    described = f"{guess!r} ({kind})" if kind else repr(guess)
    if guess in graded:
        return f"did you mean {described}? " + NO_GUESS
    # Never offer another graded task instead: it would score the model on something else.
    return (
        f"{described} is a task the grader has, but this course does not grade it; ask the "
        "instructors to enable it under `tasks:` in course.yaml rather than submitting it as "
        "another task, which would measure something else"
    )

"""Quality tasks, one module each, registered by name and imported only when used."""

from __future__ import annotations

from grader.registry import Registry

# name → "module:Class". A new task: one module, one line here, one entry in
# tests/test_task_contract.py.
TASKS = Registry(
    "task",
    {
        "text-classification": "grader.harness.tasks.text_classification:TextClassification",
        "image-classification": "grader.harness.tasks.image_classification:ImageClassification",
        "token-classification": "grader.harness.tasks.token_classification:TokenClassification",
        "causal-lm": "grader.harness.tasks.causal_lm:CausalLM",
        "seq2seq": "grader.harness.tasks.seq2seq:Seq2Seq",
        "speech-recognition": "grader.harness.tasks.speech_recognition:SpeechRecognition",
    },
)

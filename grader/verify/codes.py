"""Finding codes of the verify stage: V."""

from __future__ import annotations

from grader.codes import CodeDoc

CODES: list[CodeDoc] = [
    CodeDoc(
        "V001",
        "A valid submission given to `grader verify` before it was measured",
        "grader verify validated.json   # validated.json has no errors",
        "Measure it first (`grader measure validated.json --out measurement.json`), then run "
        "`grader verify measurement.json`. Only a submission that did not validate can be graded "
        "straight from its validated-submission file (it becomes an `invalid` grade).",
    ),
]

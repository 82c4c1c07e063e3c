"""The manifest as understood: the whole Submission when it validates, and its parts regardless.

Schema mistakes become S-findings at their lines; the parts that are valid on their own still go
to the course, claim and artifact checks, so a student sees every mistake in one run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from grader.findings import Finding
from grader.manifest.model import Claims, ModelEntry, Submission
from grader.schema_errors import findings_from_validation_error
from grader.validate.salvage import Part, salvage
from grader.yamlio import PositionMap


@dataclass(frozen=True)
class Entry:
    key: str  # "baseline" or "models[i]", as ValidatedEntry.key
    part: Part

    @property
    def is_baseline(self) -> bool:
        return self.key == "baseline"

    @cached_property
    def model(self) -> ModelEntry | None:
        """The whole entry, when it validates on its own."""
        try:
            return ModelEntry.model_validate(self.part.raw)
        except ValidationError:
            return None


@dataclass
class ManifestRead:
    submission: Submission | None  # None unless the whole manifest validates
    top: Part
    entries: list[Entry]
    findings: list[Finding]  # S-codes


def read_manifest(data: Any, positions: PositionMap) -> ManifestRead:
    findings: list[Finding] = []
    submission: Submission | None = None
    try:
        submission = Submission.model_validate(data)
    except ValidationError as error:
        findings = findings_from_validation_error(
            error, positions, root_model=Submission, hints=_field_hints()
        )
    top = salvage(Submission, data, ())
    return ManifestRead(submission=submission, top=top, entries=_entries(top), findings=findings)


def _entries(top: Part) -> list[Entry]:
    entries = []
    if top.written("baseline") and top.raw_value("baseline") is not None:
        entries.append(
            Entry("baseline", salvage(ModelEntry, top.raw_value("baseline"), top.path_of("baseline")))
        )
    models = top.raw_value("models") if top.written("models") else None
    if isinstance(models, Sequence) and not isinstance(models, str):
        for index, raw in enumerate(models):
            path = (*top.path_of("models"), index)
            entries.append(Entry(f"models[{index}]", salvage(ModelEntry, raw, path)))
    return entries


_ARTIFACT_HINTS = {
    "revision": "the full 40-hex commit id of the files you measured (the Hub shows it under "
    "'Files and versions' → History; `git rev-parse HEAD` in a clone); a branch like `main` can change",
    "sha256": "the 64-hex digest of the file: `sha256sum model.zip`",
    "url": "an https:// link to the file",
}


def _field_hints() -> dict[str, str]:
    """Fix hints by dotted field path (list indices dropped), where pydantic's message is terse."""
    hints = {"team": "your team's name exactly as course.yaml spells it: lower-case letters, digits, _ and -"}
    for prefix in ("baseline", "models"):
        for name, info in Claims.model_fields.items():
            if name != "quality":
                hints[f"{prefix}.claims.{name}"] = f"write one value with its unit. {info.description}"
        for name, hint in _ARTIFACT_HINTS.items():
            hints[f"{prefix}.artifact.{name}"] = hint
    return hints

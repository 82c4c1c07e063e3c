"""The verify stage: claims against measured figures, ratios against the baseline, score, verdict.

The implementation is grader.verify.grade (`verify`, `grade_invalid`, `grade_from_document`);
checks: grader.verify.checks; ratios and verdict precedence: grader.verify.scoring; the
scoring rules: grader.verify.rules; its sentences: grader.messages.verify. This package only
names them, and lazily: the report and the leaderboard import grader.verify.formatting, and
importing it must not load the whole stage (the harness's models, the validator's documents).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grader.verify.grade import grade_from_document, grade_invalid, verify
    from grader.verify.models import Grade, Verdict

__all__ = ["Grade", "Verdict", "grade_from_document", "grade_invalid", "verify"]

_HOMES = {
    "verify": "grader.verify.grade",
    "grade_invalid": "grader.verify.grade",
    "grade_from_document": "grader.verify.grade",
    "Grade": "grader.verify.models",
    "Verdict": "grader.verify.models",
}


def __getattr__(name: str) -> Any:
    """`from grader.verify import verify` imports grader.verify.grade on first use (PEP 562)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)

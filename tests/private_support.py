"""Leak checks for private eval sets: every way the grader writes a figure, searched in text.

A private figure could reach public text as JSON (the float's repr), as a percentage or a plain
score in a comment (grader.verify.formatting), or rounded in a log. `leaked` lists each writing of
a private figure found in the given texts. A private value that happens to be written like some
public figure of the same run is skipped: finding it would prove nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from grader.harness.models import MeasurementRun
from grader.verify import formatting as fmt


def writings(value: float) -> set[str]:
    return {
        repr(value),
        f"{value:.4f}",
        fmt.score_value(value, bounded=True),
        fmt.score_value(value, bounded=False),
    }


def private_values(run: MeasurementRun) -> tuple[set[float], set[float]]:
    """(values on private sets, values on public sets) of every quality result of ``run``."""
    private: set[float] = set()
    public: set[float] = set()
    for model in run.models:
        for result in (model.quality, model.private_quality):
            if result is not None:
                (private if result.visibility == "private" else public).update(result.metrics.values())
    return private, public


def leaked(run: MeasurementRun, texts: Iterable[str]) -> list[str]:
    private, public = private_values(run)
    assert private, "the run holds no private figures: nothing to check"
    seen_public = set().union(*(writings(v) for v in public)) if public else set()
    wanted = {w for v in private if not writings(v) & seen_public for w in writings(v)}
    assert wanted, "every private figure is written like a public one: pick other test data"
    found = []
    for text in texts:
        for writing in sorted(wanted):
            # a whole number, not the inside of another one (`0.2098` is in `10.20987`)
            match = re.search(rf"(?<![\d.]){re.escape(writing)}(?!\d)", text)
            if match:
                at = match.start()
                found.append(f"{writing!r} in …{text[max(0, at - 80) : at + 40]}…")
    return found

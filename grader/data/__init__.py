"""Eval data the grader ships (see README.md in this folder for what each file is and where it
comes from). The files are package data; `grader.data.synth` regenerates the synthetic ones."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TypeVar

T = TypeVar("T")


def draw_distinct(
    make: Callable[[], T],
    key: Callable[[T], str],
    count: int,
    exclude: Collection[str] = (),
    what: str = "items",
) -> list[T]:
    """``count`` items from ``make`` whose keys are new (not in ``exclude``, not drawn before).

    Bounded: gives up after ``200 × count`` draws, so a template space that is too small is an
    error rather than an endless loop.
    """
    seen = set(exclude)
    out: list[T] = []
    for _ in range(count * 200):
        if len(out) == count:
            break
        item = make()
        if key(item) not in seen:
            seen.add(key(item))
            out.append(item)
    if len(out) < count:
        raise ValueError(f"only {len(out)} distinct {what}; ask for fewer")
    return out

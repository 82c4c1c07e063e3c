"""Every finding code, documented: what it means, an example, and the fix.

Codes are stable (tests, docs and students' bookmarks refer to them). Each area lists its own
codes in a `codes` module; this one collects them. `grader codes` prints them and
docs/findings.md is generated from them (a test keeps it current).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class CodeDoc:
    code: str
    title: str
    example: str  # a short input that triggers it
    fix: str


# Areas, each a module with a CODES: list[CodeDoc]. Prefixes: Y YAML, S schema, U units,
# M manifest rules, C course, A artifacts, P pull request, D stage documents.
CODE_MODULES: list[str] = [
    "grader.validate.codes",
    "grader.harness.tasks.codes",
    "grader.verify.codes",
    "grader.report.codes",
    "grader.leaderboard.codes",
    "grader.github.codes",
]


def all_codes() -> dict[str, CodeDoc]:
    out: dict[str, CodeDoc] = {}
    for name in CODE_MODULES:
        for doc in importlib.import_module(name).CODES:
            if doc.code in out:
                raise ValueError(f"finding code {doc.code} is defined twice")
            out[doc.code] = doc
    return dict(sorted(out.items()))

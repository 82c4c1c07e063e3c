"""Validation: the manifest and the PR against the course, as located findings.

- ``validate_manifest(manifest_path, course, repo_root, *, pr=None, now=None,
  allow_code_formats=False) -> ValidatedSubmission``: every check, every finding (manifest.py);
- ``parse_title(title)`` and ``check_pull_request(...)``: the PR rules (pr_rules.py);
- ``validate_course_file(path) -> (Course | None, findings)``: course.yaml (course_checks.py).

Names are imported on first use: grader.validate.document is read by every later stage, and it
should not pull in the checks (and their imports) with it.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "validate_manifest": "grader.validate.manifest",
    "check_pull_request": "grader.validate.pr_rules",
    "parse_title": "grader.validate.pr_rules",
    "manifest_paths_in": "grader.validate.pr_rules",
    "DEADLINE_LABEL": "grader.validate.pr_rules",
    "CODE_FORMAT_LABEL": "grader.validate.pr_rules",
    "validate_course_file": "grader.validate.course_checks",
    "PullRequestContext": "grader.validate.document",
    "ValidatedSubmission": "grader.validate.document",
    "ValidatedEntry": "grader.validate.document",
    "ParsedClaim": "grader.validate.document",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'grader.validate' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

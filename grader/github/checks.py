"""The check run on the PR's head commit: queued → in_progress → completed.

GitHub Actions' own checks of a ``pull_request_target`` run sit on the base branch's commit, not
on the PR, so the grader posts its own check run on the head SHA: that is the status students see
and the one branch protection requires. Its conclusion follows the verdict; validation findings
become annotations on the manifest's lines, at most 50 per request (GitHub's limit), so 120
findings go out in three updates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from grader.findings import Finding, Severity
from grader.github.client import CheckRunInfo, GitHubClient
from grader.github.texts import text
from grader.verify.models import Grade, Verdict

log = logging.getLogger("grader.github")

ANNOTATIONS_PER_REQUEST = 50
OUTPUT_LIMIT = 65535  # characters of output.summary and output.text
TITLE_LIMIT = 255  # GitHub truncates long titles in the UI; keep them readable
# Findings that an instructor, not the team, must act on: a format that carries code (M010, see
# grader/validate/codes.py) needs the `allow-torchscript` label.
NEEDS_APPROVAL_CODES = frozenset({"M010"})

_CONCLUSIONS: dict[Verdict, str] = {
    Verdict.PASS: "success",
    Verdict.CLAIMS_MISMATCH: "failure",
    Verdict.INCOMPLETE: "failure",
    Verdict.FAILED: "failure",
    Verdict.INVALID: "failure",
    # A speed claim undecided within the budget: not the team's fault and not a pass either.
    # action_required blocks a merge (unlike neutral) until an instructor regrades.
    Verdict.INCONCLUSIVE: "action_required",
}


def needs_approval(grade: Grade) -> bool:
    return any(f.code in NEEDS_APPROVAL_CODES for f in grade.findings)


def conclusion_for(grade: Grade) -> str:
    if needs_approval(grade):
        return "action_required"
    return _CONCLUSIONS[grade.verdict]


def annotations_from_findings(findings: Iterable[Finding]) -> list[dict[str, Any]]:
    """One annotation per finding located in a repository file (PR-level findings have no file
    to point at; they are in the summary and the comment)."""
    out = []
    for finding in findings:
        path = finding.location.file
        if not _is_repo_path(path):
            continue
        line = finding.location.line or 1
        annotation: dict[str, Any] = {
            "path": path,
            "start_line": line,
            "end_line": line,
            "annotation_level": "failure" if finding.severity is Severity.ERROR else "warning",
            "title": finding.code,
            "message": _annotation_message(finding),
        }
        if finding.location.line and finding.location.column:
            annotation["start_column"] = annotation["end_column"] = finding.location.column
        out.append(annotation)
    return out


def _is_repo_path(path: str) -> bool:
    pure = PurePosixPath(path)
    return (
        bool(path)
        and not pure.is_absolute()
        and ".." not in pure.parts
        and "\\" not in path
        and not path.startswith(("<", "pull request"))
        and "/" in path
    )


def _annotation_message(finding: Finding) -> str:
    lines = [finding.message]
    if finding.location.field:
        lines.append(f"field: {finding.location.field}")
    if finding.expected:
        lines.append(f"expected: {finding.expected}")
    if finding.found:
        lines.append(f"found: {finding.found}")
    if finding.hint:
        lines.append(f"hint: {finding.hint}")
    return "\n".join(lines)[:60000]


def batches(items: list[Any], size: int = ANNOTATIONS_PER_REQUEST) -> list[list[Any]]:
    """Chunks of at most ``size``; at least one (possibly empty) chunk, so the last update exists."""
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def fit(value: str, limit: int, language: str) -> str:
    if len(value) <= limit:
        return value
    tail = text("check_truncated", language)
    return value[: limit - len(tail)] + tail


def start_check_run(client: GitHubClient, head_sha: str, language: str) -> CheckRunInfo:
    """Announce the grading: a queued check run (reusing one that is still open for this SHA)."""
    name = client.settings.check_name
    current = client.find_check_run(head_sha, name)
    if current is not None and current.status != "completed":
        return current
    return client.create_check_run(
        head_sha,
        name,
        "queued",
        output={"title": text("queued_title", language), "summary": text("queued_summary", language)},
        details_url=client.settings.run_url,
        # The first grading of a commit starts right after its push: pr-context falls back to
        # this time for deadlines when a later event (a title edit, a regrade) does not carry it.
        started_at=datetime.now(UTC),
    )


def complete_check_run(
    client: GitHubClient,
    head_sha: str,
    *,
    conclusion: str,
    title: str,
    summary: str,
    annotations: list[dict[str, Any]],
    language: str,
) -> CheckRunInfo:
    """in_progress, then the annotations in batches of 50, the last batch with the conclusion."""
    name = client.settings.check_name
    run = client.find_check_run(head_sha, name)
    if run is None or run.status == "completed":  # a regrade of the same commit gets a fresh run
        run = client.create_check_run(
            head_sha, name, "in_progress", started_at=datetime.now(UTC), details_url=client.settings.run_url
        )
    output = {"title": fit(title, TITLE_LIMIT, language), "summary": fit(summary, OUTPUT_LIMIT, language)}
    chunks = batches(annotations)
    if run.status == "queued":
        client.update_check_run(run.id, status="in_progress", started_at=datetime.now(UTC))
    for chunk in chunks[:-1]:
        client.update_check_run(run.id, status="in_progress", output={**output, "annotations": chunk})
    client.update_check_run(
        run.id,
        status="completed",
        conclusion=conclusion,
        completed_at=datetime.now(UTC),
        output={**output, "annotations": chunks[-1]},
        details_url=client.settings.run_url,
    )
    log.info("check run %s completed: %s, %d annotation(s)", run.id, conclusion, len(annotations))
    return CheckRunInfo(run.id, name, head_sha, "completed", conclusion)

"""The grader's PR labels: what each verdict sets, created with colour and description when the
repository lacks them, and stale ones removed. Labels the grader does not manage (an
instructor's `deadline-extension`, `allow-torchscript`) are never touched."""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass

from grader.github.checks import needs_approval
from grader.github.client import GitHubClient, LabelSpec
from grader.github.texts import text
from grader.verify.models import Grade, Verdict

log = logging.getLogger("grader.github")

GRADED = "graded"
CLAIMS_MISMATCH = "claims-mismatch"
INVALID_SUBMISSION = "invalid-submission"
NEEDS_APPROVAL = "needs-approval"

_COLOURS = {
    GRADED: "0e8a16",  # green
    CLAIMS_MISMATCH: "d93f0b",  # orange
    INVALID_SUBMISSION: "b60205",  # red
    NEEDS_APPROVAL: "fbca04",  # yellow
}
MANAGED = frozenset(_COLOURS)


def label_specs(language: str) -> dict[str, LabelSpec]:
    return {
        name: LabelSpec(name, colour, text("label_" + name.replace("-", "_"), language))
        for name, colour in _COLOURS.items()
    }


def labels_for(grade: Grade) -> set[str]:
    """The managed labels this grade should leave on the PR."""
    wanted: set[str] = set()
    if grade.verdict is Verdict.INVALID:
        wanted.add(INVALID_SUBMISSION)
    else:
        wanted.add(GRADED)
    if grade.verdict is Verdict.CLAIMS_MISMATCH:
        wanted.add(CLAIMS_MISMATCH)
    if needs_approval(grade):
        wanted.add(NEEDS_APPROVAL)
    return wanted


@dataclass(frozen=True)
class LabelChange:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    created: tuple[str, ...]


def ensure_labels(client: GitHubClient, names: Collection[str], language: str) -> tuple[str, ...]:
    """Create the managed labels the repository does not have yet; return the ones created."""
    existing = client.repository_labels()
    specs = label_specs(language)
    created = []
    for name in sorted(names):
        if name not in existing:
            client.create_label(specs[name])
            created.append(name)
    return tuple(created)


def sync_labels(
    client: GitHubClient, number: int, current: Collection[str], wanted: set[str], language: str
) -> LabelChange:
    """Make the PR's managed labels exactly ``wanted``; leave every other label alone."""
    unknown = wanted - MANAGED
    if unknown:
        raise ValueError(f"not a grader label: {sorted(unknown)}")
    to_add = sorted(wanted - set(current))
    to_remove = sorted((MANAGED & set(current)) - wanted)
    created = ensure_labels(client, to_add, language) if to_add else ()
    client.add_labels(number, to_add)
    for name in to_remove:
        client.remove_label(number, name)
    if to_add or to_remove:
        log.info("labels on #%s: +%s -%s", number, to_add, to_remove)
    return LabelChange(tuple(to_add), tuple(to_remove), created)

"""Finding the grade of a merged PR's head commit among the workflows' artifacts.

The grading workflow uploads its Grade as an artifact named for the PR and the head SHA it
graded. On merge, the leaderboard workflow looks it up through the API. An artifact only counts
if it comes from a run of one of the grader's own workflows started by an event that always runs
the workflow file of the base repository (never a fork's copy): a fork PR's `pull_request` run
executes the fork's workflow and could upload an artifact under the same name.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from grader.github.client import GitHubClient, WorkflowRunInfo

log = logging.getLogger("grader.github")

GRADE_ARTIFACT_PREFIX = "grade"
TRUSTED_EVENTS = frozenset({"pull_request_target", "issue_comment", "workflow_dispatch"})
GRADER_WORKFLOWS = frozenset(
    f".github/workflows/{name}" for name in ("grade.yml", "regrade.yml", "leaderboard.yml")
)
_SHA = re.compile(r"^[0-9a-f]{40}$")


def grade_artifact_name(number: int, head_sha: str) -> str:
    """`grade-pr12-<40 hex>`: the name binds the artifact to one PR and one commit."""
    if not _SHA.match(head_sha):
        raise ValueError(f"not a 40-hex commit SHA: {head_sha!r}")
    return f"{GRADE_ARTIFACT_PREFIX}-pr{number}-{head_sha}"


def is_trusted_run(run: WorkflowRunInfo) -> bool:
    """A run of one of the grader's own workflows, started by an event that runs the base
    repository's workflow file (see the module docstring)."""
    return run.event in TRUSTED_EVENTS and run.path in GRADER_WORKFLOWS


@dataclass(frozen=True)
class GradeArtifact:
    name: str
    artifact_id: int
    run_id: int
    run_url: str


def find_grade_artifact(client: GitHubClient, number: int, head_sha: str) -> GradeArtifact | None:
    """The newest usable grade artifact of PR ``number`` at ``head_sha``, or None."""
    name = grade_artifact_name(number, head_sha)
    for artifact in client.artifacts(name):
        if artifact.name != name or artifact.run_id is None:
            continue
        if artifact.expired:
            log.info("artifact %s of run %s has expired", name, artifact.run_id)
            continue
        run = client.workflow_run(artifact.run_id)
        if not is_trusted_run(run):
            log.warning(
                "ignoring artifact %s from run %s (%s, event %s): not a grader workflow run from the "
                "base repository",
                name,
                run.id,
                run.path,
                run.event,
            )
            continue
        return GradeArtifact(name=name, artifact_id=artifact.id, run_id=run.id, run_url=run.html_url)
    return None

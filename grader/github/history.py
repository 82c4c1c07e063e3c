"""Every graded attempt of a merged PR, found and checked through the API (`grader gh collect-history`).

The grading workflow uploads each grade as an artifact named `grade-pr<N>-<head SHA>` (runs.py):
one per push it graded, and one more per regrade of that commit (every run uploads its own). At
merge the leaderboard collects all of them, not only the merged commit's:

- the commits are the PR's commits as the API lists them. A commit that a force-push took out of
  the PR is not one of them any more: its grade cannot be tied to the PR and is not collected;
- per commit, every artifact of that name counts only if it has not expired and comes from a run
  of the grader's own workflows started by a trusted event (runs.is_trusted_run);
- its `grade.json` is read as data (a bounded download, one member of the zip, a size limit) and
  checked as the merged grade is (L004): the PR number, head SHA, team and homework must be the
  API's, never the artifact's word.

Whatever is refused is returned with its reason and never collected; the rest goes to
grader.leaderboard.records.collect_attempts.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
import zlib
from dataclasses import dataclass, field

from grader.errors import InputError
from grader.findings import Finding
from grader.github.client import ArtifactInfo, GitHubClient, GitHubError, WorkflowRunInfo
from grader.github.runs import grade_artifact_name, is_trusted_run
from grader.leaderboard.records import AttemptOrigin, GradedAttempt, Provenance, provenance_findings
from grader.verify.models import Grade

log = logging.getLogger("grader.github")

MIB = 1024 * 1024
MAX_ARCHIVE_BYTES = 64 * MIB  # a grade artifact holds grade.json and the public measurement
MAX_GRADE_BYTES = 16 * MIB
GRADE_MEMBER = "grade.json"

# Which workflow's run graded the attempt says why it was graded (grade.yml runs on opened and
# pushed PRs; regrade.yml and leaderboard.yml call it for a regrade and for the merged commit).
_TRIGGERS = {
    ".github/workflows/grade.yml": "push",
    ".github/workflows/regrade.yml": "regrade",
    ".github/workflows/leaderboard.yml": "merge",
}


@dataclass(frozen=True)
class Refused:
    """A grade artifact of the PR that is not collected, and why."""

    artifact: str
    artifact_id: int
    run_id: int | None
    reason: str
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True)
class PullAttempts:
    attempts: list[GradedAttempt]
    refused: list[Refused]
    commits: int  # how many of the PR's commits were looked at


def pull_attempts(client: GitHubClient, number: int, team: str, homework: int) -> PullAttempts:
    """Every grade artifact of PR ``number`` that belongs to it (see the module docstring)."""
    shas = client.pull_commits(number)
    attempts: list[GradedAttempt] = []
    refused: list[Refused] = []
    for sha in shas:
        name = grade_artifact_name(number, sha)
        for artifact in client.artifacts(name):
            if artifact.name != name:  # the API's name filter is exact; this is belt and braces
                continue
            outcome = _check(client, artifact, Provenance(number, sha, team, homework))
            if isinstance(outcome, GradedAttempt):
                attempts.append(outcome)
            else:
                refused.append(outcome)
    return PullAttempts(attempts, refused, len(shas))


def _check(client: GitHubClient, artifact: ArtifactInfo, expected: Provenance) -> GradedAttempt | Refused:
    def refuse(reason: str, findings: list[Finding] | None = None) -> Refused:
        log.warning(
            "not collected: %s (artifact %s, run %s): %s", artifact.name, artifact.id, artifact.run_id, reason
        )
        return Refused(artifact.name, artifact.id, artifact.run_id, reason, findings or [])

    if artifact.run_id is None:
        return refuse("GitHub names no workflow run for it")
    if artifact.expired:
        return refuse("the artifact has expired: its grade can no longer be read")
    if artifact.size_in_bytes > MAX_ARCHIVE_BYTES:
        return refuse(f"the artifact is {artifact.size_in_bytes} bytes, over {MAX_ARCHIVE_BYTES}")
    run = client.workflow_run(artifact.run_id)
    if not is_trusted_run(run):
        return refuse(
            f"uploaded by run {run.id} of {run.path} ({run.event}), not by a grader workflow run of the "
            "base repository"
        )
    try:
        archive = client.download_artifact(artifact.id, max_bytes=MAX_ARCHIVE_BYTES)
    except GitHubError as error:
        return refuse(str(error))
    name = f"{artifact.name}/{GRADE_MEMBER}"
    try:
        grade = Grade.from_data(json.loads(_grade_bytes(archive)), name)
    except _UnreadableError as error:
        return refuse(str(error))
    except ValueError as error:  # json's JSONDecodeError and UnicodeDecodeError are ValueErrors
        return refuse(f"{GRADE_MEMBER} is not JSON: {error}")
    except InputError as error:
        return refuse(f"{GRADE_MEMBER} is not a grade document", error.findings)
    problems = provenance_findings(grade, expected, name)
    if problems:
        fields = ", ".join(str(p.location.field) for p in problems)
        return refuse(
            f"the grade does not belong to PR #{expected.pr} at {expected.head_sha[:12]}: {fields}", problems
        )
    return GradedAttempt(grade, _origin(run, artifact))


def _origin(run: WorkflowRunInfo, artifact: ArtifactInfo) -> AttemptOrigin:
    return AttemptOrigin(
        trigger=_TRIGGERS.get(run.path, "push"), run_id=run.id, run_url=run.html_url, artifact=artifact.name
    )


class _UnreadableError(Exception):
    pass


def _grade_bytes(archive: bytes) -> bytes:
    """grade.json from the artifact's zip: one member, read no further than the size limit (the
    header's size is the archive's word, so the reading itself is bounded too)."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            try:
                info = bundle.getinfo(GRADE_MEMBER)
            except KeyError:
                raise _UnreadableError(f"the artifact holds no {GRADE_MEMBER}") from None
            if info.file_size > MAX_GRADE_BYTES:
                raise _UnreadableError(f"{GRADE_MEMBER} is {info.file_size} bytes, over {MAX_GRADE_BYTES}")
            with bundle.open(info) as member:
                data = member.read(MAX_GRADE_BYTES + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as error:
        raise _UnreadableError(f"the artifact is not a readable zip archive: {error}") from None
    if len(data) > MAX_GRADE_BYTES:
        raise _UnreadableError(f"{GRADE_MEMBER} is larger than {MAX_GRADE_BYTES} bytes")
    return data

"""Publishing a grade on its PR: the sticky comment, the check run, the labels.

Before anything is posted the PR's head commit is read again from the API: if the team pushed
since this grading started, nothing is posted (a newer run grades the new commit). The PR number
and head SHA given here come from the event and the API, never from the grade's own JSON, which
passed through the measuring job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from grader.github.checks import (
    annotations_from_findings,
    complete_check_run,
    conclusion_for,
)
from grader.github.client import CheckRunInfo, GitHubClient, GitHubError
from grader.github.comment import StickyResult, compose, marker, upsert_sticky_comment
from grader.github.labels import LabelChange, labels_for, sync_labels
from grader.verify.models import Grade

log = logging.getLogger("grader.github")


@dataclass(frozen=True)
class Rendered:
    """The report as text, from grader.report (or a test)."""

    comment: str
    check_title: str
    check_summary: str


@dataclass(frozen=True)
class PublishResult:
    posted: bool
    reason: str = ""
    head_sha: str = ""
    comment: StickyResult | None = None
    comment_cut: bool = False
    check_run: CheckRunInfo | None = None
    labels: LabelChange | None = None


def publish_grade(
    client: GitHubClient,
    grade: Grade,
    rendered: Rendered,
    *,
    number: int,
    expected_sha: str,
) -> PublishResult:
    """Post ``grade`` on PR ``number`` if its head is still ``expected_sha``.

    Order: the comment (what students read), then the check run, then labels. Any GitHub failure
    propagates as GitHubError after the retries; the caller keeps the report in the job summary.
    The check run is completed even when the comment failed: the announce step queued it, and a
    required check left queued blocks the PR until someone regrades.
    """
    current = client.pull_request(number, with_files=False)
    if current.head_sha != expected_sha:
        reason = (
            f"not posted: PR #{number} moved from {expected_sha[:12]} to {current.head_sha[:12]} "
            "while this commit was graded; the run for the new commit will post its result"
        )
        log.warning(reason)
        return PublishResult(posted=False, reason=reason, head_sha=current.head_sha)
    language = grade.language
    mark = marker(grade.team, grade.homework)
    body, cut = compose(mark, rendered.comment, language=language, report_url=client.settings.run_url)
    comment_error: GitHubError | None = None
    try:
        sticky: StickyResult | None = upsert_sticky_comment(client, number, mark, body)
    except GitHubError as error:
        log.error("the comment on PR #%s failed (%s); completing the check run anyway", number, error)
        sticky, comment_error = None, error
    check = complete_check_run(
        client,
        expected_sha,
        conclusion=conclusion_for(grade),
        title=rendered.check_title,
        summary=rendered.check_summary,
        annotations=annotations_from_findings(grade.findings),
        language=language,
    )
    if comment_error is not None:
        raise comment_error  # after the check run: the caller reports it and exits 1
    labels = sync_labels(client, number, current.labels, labels_for(grade), language)
    return PublishResult(
        posted=True,
        head_sha=expected_sha,
        comment=sticky,
        comment_cut=cut,
        check_run=check,
        labels=labels,
    )

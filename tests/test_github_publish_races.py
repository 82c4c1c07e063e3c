"""Publishing survives what happens on the PR meanwhile (issue #10): a sticky comment deleted
between listing and editing is posted again, and the queued check run is completed even when the
comment cannot be posted. Real HTTP against the fake GitHub, real PyGithub."""

from __future__ import annotations

import pytest
from github_fake import FakeGitHub
from github_fake.support import BOT, HEAD, client_for, grade, submission_pull

from grader.github.checks import start_check_run
from grader.github.client import GitHubError
from grader.github.comment import marker
from grader.github.publish import Rendered, publish_grade

MARK = marker("ml_masters", 2)


@pytest.fixture
def fake():
    with FakeGitHub() as server:
        server.add_pull(submission_pull())
        yield server


@pytest.fixture
def client(fake):
    with client_for(fake) as c:
        yield c


def rendered(text: str = "Verified: size 45 MB.") -> Rendered:
    return Rendered(
        comment=text, check_title="✅ ml_masters HW-2: pass", check_summary="All claims reproduced."
    )


def test_a_comment_deleted_between_listing_and_editing_is_posted_again(fake, client):
    old = fake.add_comment(7, BOT, f"{MARK}\nthe previous report")
    # Someone deletes the sticky comment right after the bot listed the comments.
    fake.after("GET", r"/issues/7/comments$", lambda f: f.repo.comments.pop(old.id))
    result = publish_grade(client, grade(), rendered("the new report"), number=7, expected_sha=HEAD)
    (comment,) = fake.comments_on(7)
    assert result.posted and result.comment.action == "created" and result.comment.comment_id == comment.id
    assert comment.id != old.id and "the new report" in comment.body
    assert len(fake.calls("PATCH", rf"/issues/comments/{old.id}$")) == 1  # the edit was tried, got 404
    assert result.check_run.status == "completed"


def test_the_check_run_is_completed_even_when_the_comment_fails(fake, client):
    queued = start_check_run(client, HEAD, "en")
    fake.fail("POST", r"/issues/7/comments$", 500, times=10)  # every retry fails
    with pytest.raises(GitHubError):
        publish_grade(client, grade(), rendered(), number=7, expected_sha=HEAD)
    (run,) = fake.repo.check_runs.values()
    assert run.id == queued.id and run.status == "completed" and run.conclusion == "success"
    assert not fake.comments_on(7)


def test_other_edit_failures_still_stop_the_comment(fake, client):
    fake.add_comment(7, BOT, f"{MARK}\nthe previous report")
    fake.fail("PATCH", r"/issues/comments/\d+$", 403, message="Resource not accessible by integration")
    with pytest.raises(GitHubError) as error:
        publish_grade(client, grade(), rendered(), number=7, expected_sha=HEAD)
    assert error.value.status == 403
    assert len(fake.comments_on(7)) == 1  # no second comment for a refusal that is not a deletion
    (run,) = fake.repo.check_runs.values()
    assert run.status == "completed"

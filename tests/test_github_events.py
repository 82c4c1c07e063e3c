"""What the grader takes from an event payload (real payloads from GitHub): a PR number, a
push time, a comment, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from github_fake.support import FIXTURES, payload

from grader.course import load_course
from grader.errors import InputError
from grader.github.events import comment_command, load_event, pr_number_from_event, push_time
from grader.github.regrade import decide, is_regrade_command


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("pull_request.opened", 2),
        ("pull_request.synchronize", 2),
        ("pull_request.closed", 2),
        ("issue_comment.created.on_pr", 1),
        ("push", None),
        ("workflow_dispatch", None),  # GitHub's sample has no `pr` input
    ],
)
def test_the_pr_number_of_each_event(name, number):
    assert pr_number_from_event(payload(name)) == number


def test_a_comment_on_an_issue_is_not_about_a_pr():
    event = payload("issue_comment.created.on_pr")
    del event["issue"]["pull_request"]
    assert pr_number_from_event(event) is None and comment_command(event) is None


def test_dispatch_inputs_arrive_as_strings():
    event = payload("workflow_dispatch")
    event["inputs"] = {"pr": "12"}
    assert pr_number_from_event(event) == 12
    for bad in ("0", "-3", "12; rm -rf /", True, ""):
        event["inputs"] = {"pr": bad}
        assert pr_number_from_event(event) is None, bad


def test_push_time_only_for_the_commit_the_event_is_about():
    event = payload("pull_request.synchronize")
    sha = event["pull_request"]["head"]["sha"]
    assert push_time(event, sha) == datetime.fromisoformat(
        event["pull_request"]["updated_at"].replace("Z", "+00:00")
    )
    assert push_time(event, "0" * 40) is None  # the PR moved on since: this event does not date it
    closed = payload("pull_request.closed")
    assert push_time(closed, closed["pull_request"]["head"]["sha"]) is None  # a merge is not a submission
    assert push_time(payload("issue_comment.created.on_pr"), sha) is None
    assert push_time(event, sha).tzinfo is not None and push_time(event, sha) < datetime.now(UTC)


def test_an_unreadable_event_is_a_located_finding(tmp_path):
    broken = tmp_path / "event.json"
    broken.write_text('{"action": "opened",\n  "number": }')
    with pytest.raises(InputError) as caught:
        load_event(broken)
    (finding,) = caught.value.findings
    assert (finding.code, finding.location.line) == ("G002", 2)
    with pytest.raises(InputError):
        load_event(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("body", "command"),
    [
        ("/regrade", True),
        ("  /regrade please\nthe runner was busy", True),
        ("/regrade-now", False),
        ("please /regrade", False),
        ("> /regrade\nquoting the instructor", False),
    ],
)
def test_what_counts_as_a_regrade_command(body, command):
    assert is_regrade_command(body) is command


def test_a_roster_student_is_refused_even_as_a_collaborator():
    course = load_course(FIXTURES / "course.yaml")
    event = payload("issue_comment.created.on_pr")
    event["comment"].update({"body": "/regrade", "author_association": "COLLABORATOR"})
    event["comment"]["user"]["login"] = "Bob"  # logins compare case-insensitively
    decision = decide(comment_command(event), course)
    assert not decision.allowed and "roster of team ml_masters" in decision.reason

"""Reading the event a workflow was started by ($GITHUB_EVENT_PATH).

Only what the event is trusted for is taken from it: the PR number (every other fact about the
PR is read again from the API), the comment and its author's association for `/regrade` (both
set by GitHub, not by the commenter), and GitHub's own timestamp of a push.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard

from grader.errors import InputError
from grader.findings import Finding, Location

# Actions after which the PR's `updated_at` is the time of the submission: the opening, or a
# push. (Not `reopened`: reopening late does not make an earlier push late.)
PUSH_ACTIONS = frozenset({"opened", "synchronize"})


def load_event(path: Path) -> dict[str, Any]:
    """The event payload as a dict; anything else is an InputError naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError([_event_problem(path, "the file does not exist")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError([_event_problem(path, str(error))]) from None
    except json.JSONDecodeError as error:
        raise InputError(
            [
                Finding(
                    code="G002",
                    location=Location(file=str(path), line=error.lineno, column=error.colno),
                    message=f"the event file is not valid JSON: {error.msg}",
                    expected="the webhook payload GitHub Actions writes to $GITHUB_EVENT_PATH",
                    hint='pass --event "$GITHUB_EVENT_PATH" inside a workflow, or --pr N',
                )
            ]
        ) from None
    if not isinstance(data, dict):
        raise InputError([_event_problem(path, "the JSON is not an object")])
    return data


def _event_problem(path: Path, found: str) -> Finding:
    return Finding(
        code="G002",
        location=Location(file=str(path)),
        message="cannot read the event file",
        expected="the webhook payload GitHub Actions writes to $GITHUB_EVENT_PATH",
        found=found,
        hint='pass --event "$GITHUB_EVENT_PATH" inside a workflow, or --pr N',
    )


def pr_number_from_event(event: dict[str, Any]) -> int | None:
    """The PR an event is about: pull_request(_target), a comment on a PR, a dispatch's `pr`
    input, or a check/workflow run attached to one PR."""
    pull = event.get("pull_request")
    if isinstance(pull, dict) and _is_number(pull.get("number")):
        return int(pull["number"])
    issue = event.get("issue")
    if isinstance(issue, dict) and issue.get("pull_request") and _is_number(issue.get("number")):
        return int(issue["number"])
    inputs = event.get("inputs")
    if isinstance(inputs, dict) and _is_number(inputs.get("pr")):
        return int(inputs["pr"])
    for key in ("check_run", "workflow_run"):
        run = event.get(key)
        pulls = run.get("pull_requests") if isinstance(run, dict) else None
        if isinstance(pulls, list) and len(pulls) == 1 and _is_number(pulls[0].get("number")):
            return int(pulls[0]["number"])
    return None


def _is_number(value: object) -> TypeGuard[int | str]:
    """A positive number, as an int or its digits (a guard: the caller may pass it to int())."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0
    return isinstance(value, str) and value.isdigit() and int(value) > 0


def push_time(event: dict[str, Any], head_sha: str) -> datetime | None:
    """When the graded commit was submitted, if this event says so: GitHub stamps `updated_at` on
    the PR when it is opened or synchronized. A commit's own dates are the author's to set and
    are never used."""
    pull = event.get("pull_request")
    if event.get("action") not in PUSH_ACTIONS or not isinstance(pull, dict):
        return None
    head = pull.get("head") or {}
    if head.get("sha") != head_sha or not isinstance(pull.get("updated_at"), str):
        return None
    try:
        return datetime.fromisoformat(pull["updated_at"].replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class CommentCommand:
    """A comment on a PR, as GitHub reports it."""

    number: int
    login: str
    association: str  # OWNER, MEMBER, COLLABORATOR, CONTRIBUTOR, FIRST_TIME_CONTRIBUTOR, NONE, ...
    body: str
    comment_id: int


def comment_command(event: dict[str, Any]) -> CommentCommand | None:
    """The comment of an `issue_comment` event on a pull request; None for anything else."""
    issue, comment = event.get("issue"), event.get("comment")
    if not isinstance(issue, dict) or not isinstance(comment, dict) or not issue.get("pull_request"):
        return None
    number = issue.get("number")
    if not _is_number(number):
        return None
    user = comment.get("user") or {}
    return CommentCommand(
        number=int(number),
        login=str(user.get("login") or ""),
        association=str(comment.get("author_association") or "NONE"),
        body=str(comment.get("body") or ""),
        comment_id=int(comment.get("id") or 0),
    )

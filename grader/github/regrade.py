"""Who may ask for a regrade with a `/regrade` comment.

An instructor: the comment's author association (set by GitHub) is OWNER, MEMBER or
COLLABORATOR, or the login is in course.yaml `instructors`. One exception on top: a login on a
team's roster is a student, and is refused even if it is an organisation member or a
collaborator (courses often add students to the organisation), unless it is also listed as an
instructor.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.course.model import Course
from grader.github.events import CommentCommand

COMMAND = "/regrade"
INSTRUCTOR_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


@dataclass(frozen=True)
class RegradeDecision:
    allowed: bool
    reason: str
    is_command: bool = True


def is_regrade_command(body: str) -> bool:
    """`/regrade` alone on the comment's first line (trailing words allowed: `/regrade please`)."""
    first = body.strip().split("\n", 1)[0].strip()
    return first == COMMAND or first.startswith(COMMAND + " ")


def decide(comment: CommentCommand, course: Course) -> RegradeDecision:
    if not is_regrade_command(comment.body):
        return RegradeDecision(False, "the comment is not a /regrade command", is_command=False)
    login = comment.login
    if course.is_instructor(login):
        return RegradeDecision(True, f"{login} is listed in course.yaml `instructors`")
    teams = course.team_of(login)
    if teams:
        return RegradeDecision(False, f"{login} is on the roster of team {', '.join(teams)}")
    if comment.association in INSTRUCTOR_ASSOCIATIONS:
        return RegradeDecision(True, f"{login} is a repository {comment.association.lower()}")
    return RegradeDecision(False, f"{login} is not an instructor (association {comment.association})")

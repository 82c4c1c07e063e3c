"""Pull-request rules (P-codes): title, roster, author, touched files, manifest count, deadline.

Pure functions over facts read from the GitHub API (PullRequestContext) and the course; the
GitHub integration calls them as they are. Everything from the PR (title, file names, labels) is
data: it is only ever quoted, never interpreted.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Protocol

from grader.course.model import Course
from grader.findings import Finding, Location, Severity
from grader.validate.document import PullRequestContext
from grader.yamlio import PositionMap

PR_FILE = "pull request"
DEADLINE_LABEL = "deadline-extension"  # an instructor's label: lifts the deadline and "closed" rules
CODE_FORMAT_LABEL = "allow-torchscript"  # an instructor's label: lets a manifest use a code-carrying format
MANIFEST_NAMES = frozenset({"submission.yaml", "submission.yml"})
TITLE_FORM = "<team> HW-<n>"

# `ml_masters HW-2`, `Ml_Masters  hw 2`, `ml_masters ДЗ-2`. The team is ASCII on purpose: no
# look-alike letters. Only `hw`/`дз` ignore case, so that Unicode case folding cannot turn, say,
# a Kelvin sign into a `k`.
_TITLE = re.compile(
    r"[ \t]*(?P<team>[A-Za-z0-9][A-Za-z0-9_-]{0,39})"
    r"[ \t]+(?i:hw|дз)[ \t]*[-–—_ ]?[ \t]*(?P<n>[0-9]{1,3})[ \t]*"
)
_MAX_QUOTE = 120
_MAX_LISTED = 10


class SubmissionLike(Protocol):
    """The manifest's team and homework (a Submission, or what could be read of one)."""

    @property
    def team(self) -> str: ...

    @property
    def homework(self) -> int: ...


def code_formats_allowed(pr: PullRequestContext | None, *, flag: bool = False) -> bool:
    """Whether formats that carry code (TorchScript) may be loaded: the instructor's
    `--allow-code-formats` on the command line, or their CODE_FORMAT_LABEL on the pull request.

    Validation asks this, and so does `grader grade` before it measures, so the label that lets
    a manifest through is the one that lets its archive load; in CI the workflow hands the same
    label to `grader measure` as `--allow-code-formats`. Labels come from the GitHub API
    (pr-context), never from the PR's files, and only people with triage access can set them.
    """
    return flag or (pr is not None and CODE_FORMAT_LABEL in pr.labels)


def parse_title(title: str) -> tuple[str, int] | None:
    """`Ml_Masters  hw 2` → ("ml_masters", 2); anything not of the form `<team> HW-<n>` → None."""
    match = _TITLE.fullmatch(title)
    if match is None:
        return None
    return match.group("team").lower(), int(match.group("n"))


def quote(text: str) -> str:
    """Untrusted text, shown safely: one line, control characters escaped, length bounded."""
    shown = text if len(text) <= _MAX_QUOTE else text[:_MAX_QUOTE] + "…"
    escaped = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in shown)
    return '"' + escaped.replace('"', '\\"') + '"'


def manifest_paths_in(changed_files: Collection[str]) -> list[str]:
    """The manifests among a PR's changed files."""
    return sorted(f for f in changed_files if PurePosixPath(f).name in MANIFEST_NAMES)


def check_pull_request(
    pr: PullRequestContext,
    course: Course,
    submission: SubmissionLike | None,
    manifest_paths: list[str],
    now: datetime,
    *,
    override_labels: Collection[str] = frozenset({DEADLINE_LABEL}),
    manifest_file: str | None = None,
    positions: PositionMap | None = None,
) -> list[Finding]:
    """Every PR rule; ``now`` is the time of the event being graded (push or open), not of grading.

    ``manifest_file`` and ``positions`` locate findings about the manifest's own lines.
    """
    findings: list[Finding] = []
    parsed = parse_title(pr.title)
    if parsed is None:
        findings.append(_bad_title(pr.title))
    else:
        findings += _check_roster(pr, course, parsed[0])
        findings += _check_homework(pr, course, parsed[1], now, override_labels)
    # The team whose folder the PR may touch: the title's, else (a bad title) the manifest's.
    team = parsed[0] if parsed else (submission.team if submission else None)
    if team in course.teams:
        findings += _check_author(pr, course, team)
        findings += _check_files(pr, team)
    findings += _check_manifest_count(manifest_paths)
    if parsed and submission is not None:
        place = _ManifestLines(manifest_file or _single(manifest_paths), positions)
        findings += _check_title_matches(parsed, submission, place)
    return findings


def _single(paths: list[str]) -> str:
    return paths[0] if len(paths) == 1 else "submission.yaml"


def _pr(field: str) -> Location:
    return Location(file=PR_FILE, field=field)


def _bad_title(title: str) -> Finding:
    return Finding(
        code="P001",
        location=_pr("title"),
        message="the PR title is not of the form `<team> HW-<n>`",
        expected=f"{TITLE_FORM}, e.g. `ml_masters HW-2`",
        found=quote(title),
        hint="edit the PR title: your team's name from course.yaml, a space, "
        "then HW- and the homework number",
    )


def _check_roster(pr: PullRequestContext, course: Course, team: str) -> list[Finding]:
    if team in course.teams:
        return []
    close = difflib.get_close_matches(team, list(course.teams), n=1, cutoff=0.6)
    return [
        Finding(
            code="P002",
            location=_pr("title"),
            message=f"team {team!r} from the PR title is not on the course roster",
            expected=f"one of: {', '.join(course.teams) or '(no teams configured)'}",
            found=quote(pr.title),
            hint=(f"did you mean {close[0]!r}? " if close else "")
            + "a new team asks the instructors to add it to course.yaml",
        )
    ]


def _check_author(pr: PullRequestContext, course: Course, team: str) -> list[Finding]:
    members = course.teams[team].members
    if course.is_instructor(pr.author) or pr.author.lower() in (m.lower() for m in members):
        return []
    teams_of_author = course.team_of(pr.author)
    return [
        Finding(
            code="P003",
            location=_pr("author"),
            message=f"{pr.author} opened this PR for team {team!r} but is not a member of it",
            expected=f"a member of {team}: {', '.join(members)}",
            found=pr.author + (f" (member of {', '.join(teams_of_author)})" if teams_of_author else ""),
            hint="a team member opens the PR; to join a team, ask the instructors to update course.yaml",
        )
    ]


def _check_homework(
    pr: PullRequestContext, course: Course, number: int, now: datetime, override_labels: Collection[str]
) -> list[Finding]:
    homework = course.homework(number)
    if homework is None:
        return [
            Finding(
                code="P006",
                location=_pr("title"),
                message=f"the course has no homework {number}",
                expected=f"one of: {', '.join(f'HW-{hw.id}' for hw in course.homeworks)}",
                found=quote(pr.title),
                hint="fix the homework number in the PR title",
            )
        ]
    findings = []
    if homework.branch and pr.base_ref and pr.base_ref != homework.branch:
        findings.append(
            Finding(
                code="P010",
                severity=Severity.WARNING,
                location=_pr("base"),
                message=f"HW-{number} PRs go to branch {homework.branch!r}, this one targets {pr.base_ref!r}",
                expected=f"base branch {homework.branch}",
                found=quote(pr.base_ref),
                hint="change the PR's base branch (Edit, next to the title)",
            )
        )
    if set(pr.labels) & set(override_labels):
        return findings  # an instructor extended the deadline or reopened the homework for this PR
    if not homework.open:
        findings.append(
            Finding(
                code="P007",
                location=_pr("title"),
                message=f"HW-{number} is closed for submissions",
                expected="an open homework",
                found=f"HW-{number} (open: false in course.yaml)",
                hint=f"ask an instructor for the `{DEADLINE_LABEL}` label if you have an agreement",
            )
        )
    elif homework.deadline is not None and _aware(now) > _aware(homework.deadline):
        findings.append(
            Finding(
                code="P008",
                location=_pr("title"),
                message=f"HW-{number} was due {_aware(homework.deadline).isoformat()}",
                expected=f"a push before {_aware(homework.deadline).isoformat()}",
                found=f"this push at {_aware(now).isoformat()}",
                hint=f"ask an instructor for the `{DEADLINE_LABEL}` label if you have an extension",
            )
        )
    return findings


def _aware(moment: datetime) -> datetime:
    """A time without a zone is read as UTC (`grader validate-course` warns about such deadlines)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _check_files(pr: PullRequestContext, team: str) -> list[Finding]:
    folder = f"submissions/{team}/"
    outside = [f for f in pr.changed_files if not f.startswith(folder) or ".." in PurePosixPath(f).parts]
    if not outside:
        return []
    shown = ", ".join(quote(f) for f in outside[:_MAX_LISTED])
    more = f" and {len(outside) - _MAX_LISTED} more" if len(outside) > _MAX_LISTED else ""
    return [
        Finding(
            code="P004",
            location=_pr("files"),
            message=f"the PR changes {len(outside)} file(s) outside {folder}",
            expected=f"changes only inside {folder}",
            found=shown + more,
            hint="move these changes to a separate PR (or drop them); a submission PR touches "
            "only its team's folder",
        )
    ]


def _check_manifest_count(manifest_paths: list[str]) -> list[Finding]:
    if len(manifest_paths) == 1:
        return []
    return [
        Finding(
            code="P005",
            location=_pr("files"),
            message=f"the PR changes {len(manifest_paths)} submission manifests; it needs exactly one",
            expected="one submissions/<team>/hw-<n>/submission.yaml",
            found=", ".join(quote(p) for p in manifest_paths[:_MAX_LISTED]) or "none",
            hint="one PR per homework: add or change exactly one submission.yaml",
        )
    ]


class _ManifestLines:
    def __init__(self, file: str, positions: PositionMap | None) -> None:
        self.file = file
        self.positions = positions

    def location(self, field: str) -> Location:
        if self.positions is None:
            return Location(file=self.file, field=field)
        return self.positions.location((field,)).model_copy(update={"file": self.file})


def _check_title_matches(
    parsed: tuple[str, int], submission: SubmissionLike, lines: _ManifestLines
) -> list[Finding]:
    team, number = parsed
    findings = []
    if submission.team != team:
        findings.append(
            Finding(
                code="P009",
                location=lines.location("team"),
                message=f"the manifest is for team {submission.team!r}, the PR title for {team!r}",
                expected=f"team: {team}",
                found=f"team: {submission.team}",
                hint="make the title and the manifest name the same team",
            )
        )
    if submission.homework != number:
        findings.append(
            Finding(
                code="P009",
                location=lines.location("homework"),
                message=f"the manifest is for homework {submission.homework}, the PR title for HW-{number}",
                expected=f"homework: {number}",
                found=f"homework: {submission.homework}",
                hint="make the title and the manifest name the same homework",
            )
        )
    return findings

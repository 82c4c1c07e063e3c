"""The sticky comment: one bot comment per (PR, team, homework), edited in place.

It is found by a hidden, versioned marker on its first line AND by its author being the bot, so
a student's comment that quotes the marker is never touched. Every page of comments is read.
An unchanged body is not sent again. Two jobs racing can each create one; the oldest is kept and
the others deleted, here and on every later run.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

from grader.github.client import Comment, GitHubClient, GitHubError
from grader.github.texts import text

log = logging.getLogger("grader.github")

COMMENT_LIMIT = 65536  # GitHub refuses a longer issue comment body
MARKER_PREFIX = "<!-- compression-grader:v1"
_MARKER = re.compile(
    r"^<!-- compression-grader:v1 team=(?P<team>[^\s>]+) hw=(?P<hw>[^\s>]+) -->$", re.MULTILINE
)
_FENCE = re.compile(r"^\s{0,3}(```|~~~)", re.MULTILINE)


def marker(team: str | None, homework: int | None) -> str:
    """`<!-- compression-grader:v1 team=ml_masters hw=2 -->`. The team is sanitized: it may come
    from a PR title, and it must not be able to end the HTML comment early."""
    safe_team = re.sub(r"[^A-Za-z0-9_.-]", "_", team)[:40] if team else "-"
    return f"{MARKER_PREFIX} team={safe_team} hw={homework if homework is not None else '-'} -->"


def compose(mark: str, body: str, *, language: str, report_url: str | None) -> tuple[str, bool]:
    """The comment as posted: marker line, then the body, cut to fit GitHub's limit if needed.
    Returns (text, was_cut)."""
    full = f"{mark}\n{body.rstrip()}\n"
    if utf16_length(full) <= COMMENT_LIMIT:
        return full, False
    where = f": {report_url}" if report_url else ""
    note = "\n\n---\n" + text("truncated", language, where=where) + "\n"
    return cut_markdown(full, COMMENT_LIMIT - utf16_length(note) - 8) + note, True


def utf16_length(value: str) -> int:
    """Length as GitHub's limits count it at most (an emoji is two units), so we never exceed it."""
    return len(value.encode("utf-16-le")) // 2


def cut_markdown(value: str, budget: int) -> str:
    """The longest prefix that ends at a line break and fits ``budget``; a code fence left open
    by the cut is closed so the rest of the page does not turn into code."""
    if utf16_length(value) <= budget:
        return value
    room = budget - len("```\n")  # keep space to close a fence the cut leaves open
    head = value[:room]
    while (excess := utf16_length(head) - room) > 0:  # astral characters count twice
        head = head[:-excess]
    line_end = head.rfind("\n")
    if line_end > 0:
        head = head[: line_end + 1]
    if len(_FENCE.findall(head)) % 2 == 1:
        head += "```\n"
    return head


def find_ours(comments: list[Comment], mark: str, bot_login: str) -> list[Comment]:
    """The bot's comments carrying exactly this marker, oldest first."""
    bot = bot_login.lower()
    return sorted(
        (c for c in comments if c.author.lower() == bot and _marker_line(c.body) == mark),
        key=lambda c: (c.created_at, c.id),
    )


def _marker_line(body: str) -> str | None:
    first = body.split("\n", 1)[0].strip()
    return first if _MARKER.fullmatch(first) else None


@dataclass(frozen=True)
class StickyResult:
    action: Literal["created", "edited", "unchanged"]
    comment_id: int
    pruned: tuple[int, ...] = ()


def upsert_sticky_comment(client: GitHubClient, number: int, mark: str, body: str) -> StickyResult:
    """Create, edit, or leave alone the one comment with ``mark``; prune duplicates (oldest wins)."""
    bot = client.settings.bot_login
    ours = find_ours(client.comments(number), mark, bot)
    if not ours:
        created = client.create_comment(number, body)
        # A job racing with this one may have created its own copy meanwhile: look once more.
        ours = find_ours(client.comments(number), mark, bot)
        if len(ours) <= 1:
            return StickyResult("created", created.id)
        keep, pruned = _prune(client, number, ours)
        if keep.body != body:
            return _edit_or_create(client, number, keep.id, body, pruned)
        return StickyResult("created" if keep.id == created.id else "edited", keep.id, pruned)
    keep, pruned = _prune(client, number, ours)
    if keep.body == body:
        log.info("comment %s is already up to date; not sent again", keep.id)
        return StickyResult("unchanged", keep.id, pruned)
    return _edit_or_create(client, number, keep.id, body, pruned)


def _edit_or_create(
    client: GitHubClient, number: int, comment_id: int, body: str, pruned: tuple[int, ...]
) -> StickyResult:
    """Edit the comment; if someone deleted it since it was listed (404), post a new one: the team
    must get its report, and stopping here would leave the PR without one."""
    try:
        client.edit_comment(number, comment_id, body)
    except GitHubError as error:
        if error.status != 404:
            raise
        log.warning("comment %s was deleted before it could be edited; posting a new one", comment_id)
        return StickyResult("created", client.create_comment(number, body).id, pruned)
    return StickyResult("edited", comment_id, pruned)


def _prune(client: GitHubClient, number: int, ours: list[Comment]) -> tuple[Comment, tuple[int, ...]]:
    keep, *extra = ours
    for duplicate in extra:
        log.warning("deleting duplicate grader comment %s (keeping %s)", duplicate.id, keep.id)
        client.delete_comment(number, duplicate.id)
    return keep, tuple(c.id for c in extra)

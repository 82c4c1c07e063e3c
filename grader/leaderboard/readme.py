"""The README sections between their markers (the leaderboard's, the gradebook's), each replaced
without touching anything else.

A marker counts only on a line of its own, so a README that mentions the markers in its text or
a code block is left alone. No markers: the section is appended at the end, markers included.
One marker without the other, a repeated marker, or the end before the start: a located finding
(L001), and the README is not written.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.errors import InputError
from grader.findings import Finding, Location

START = "<!-- leaderboard:start -->"
END = "<!-- leaderboard:end -->"


@dataclass(frozen=True)
class Markers:
    """The two lines that enclose one generated section of the README."""

    what: str  # the section's name, for messages
    start: str
    end: str


LEADERBOARD = Markers("leaderboard", START, END)
GRADEBOOK = Markers("gradebook", "<!-- gradebook:start -->", "<!-- gradebook:end -->")


def _marker_lines(text: str, marker: str) -> list[tuple[int, int, int]]:
    """(line number, start offset, end offset) of each line that is exactly ``marker``."""
    found = []
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.strip() == marker:
            found.append((number, offset, offset + len(line)))
        offset += len(line)
    return found


def splice(
    text: str,
    section: str,
    file: str = "README.md",
    markers: Markers = LEADERBOARD,
    *,
    after: Markers | None = None,
) -> str:
    """``text`` with ``section`` between the markers. Without them, the section goes right after
    the ``after`` section when the README has a well-formed one (the gradebook after the
    leaderboard, so the course's text below stays below), else at the end."""
    body = section if section.endswith("\n") else section + "\n"
    start, end = markers.start, markers.end
    starts, ends = _marker_lines(text, start), _marker_lines(text, end)
    if not starts and not ends:
        anchor = _section_end(text, after) if after is not None else None
        if anchor is not None:
            return f"{text[:anchor]}\n{start}\n{body}{end}\n{text[anchor:]}"
        prefix = text if not text or text.endswith("\n") else text + "\n"
        gap = "\n" if prefix.strip() else ""
        return f"{prefix}{gap}{start}\n{body}{end}\n"
    problem: tuple[str, int] | None = None
    if len(starts) > 1 or len(ends) > 1:
        extra = starts[1] if len(starts) > 1 else ends[1]
        problem = (f"found {len(starts)} start and {len(ends)} end marker lines", extra[0])
    elif len(starts) != len(ends):
        lone = (starts or ends)[0]
        missing = end if starts else start
        problem = (f"the line `{missing}` is missing", lone[0])
    elif ends[0][0] < starts[0][0]:
        problem = ("the end marker comes before the start marker", ends[0][0])
    if problem:
        raise InputError(
            [
                Finding(
                    code="L001",
                    location=Location(file=file, line=problem[1]),
                    message=f"the {markers.what} markers are broken: {problem[0]}",
                    expected=f"exactly one line `{start}` followed later by one line `{end}`",
                    hint="fix or delete the markers (without markers the section is added at the end); "
                    "the text between them is regenerated",
                )
            ]
        )
    start_line_end = starts[0][2]
    end_line_start = ends[0][1]
    before = text[:start_line_end]
    if not before.endswith("\n"):
        before += "\n"
    return before + body + text[end_line_start:]


def _section_end(text: str, markers: Markers) -> int | None:
    """The offset just past the end marker's line of a well-formed section, else None."""
    starts, ends = _marker_lines(text, markers.start), _marker_lines(text, markers.end)
    if (
        len(starts) != 1
        or len(ends) != 1
        or ends[0][0] < starts[0][0]
        or not text[: ends[0][2]].endswith("\n")
    ):
        return None
    return ends[0][2]


def current_section(text: str, markers: Markers = LEADERBOARD) -> str | None:
    """The text between the markers, or None without a well-formed pair."""
    starts, ends = _marker_lines(text, markers.start), _marker_lines(text, markers.end)
    if len(starts) != 1 or len(ends) != 1 or ends[0][0] < starts[0][0]:
        return None
    return text[starts[0][2] : ends[0][1]]

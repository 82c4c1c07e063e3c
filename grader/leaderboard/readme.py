"""The README section between the leaderboard markers, replaced without touching anything else.

A marker counts only on a line of its own, so a README that mentions the markers in its text or
a code block is left alone. No markers: the section is appended at the end, markers included.
One marker without the other, a repeated marker, or the end before the start: a located finding
(L001), and the README is not written.
"""

from __future__ import annotations

from grader.errors import InputError
from grader.findings import Finding, Location

START = "<!-- leaderboard:start -->"
END = "<!-- leaderboard:end -->"


def _marker_lines(text: str, marker: str) -> list[tuple[int, int, int]]:
    """(line number, start offset, end offset) of each line that is exactly ``marker``."""
    found = []
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.strip() == marker:
            found.append((number, offset, offset + len(line)))
        offset += len(line)
    return found


def splice(text: str, section: str, file: str = "README.md") -> str:
    """``text`` with ``section`` between the markers (added at the end if there are none)."""
    body = section if section.endswith("\n") else section + "\n"
    starts, ends = _marker_lines(text, START), _marker_lines(text, END)
    if not starts and not ends:
        prefix = text if not text or text.endswith("\n") else text + "\n"
        gap = "\n" if prefix.strip() else ""
        return f"{prefix}{gap}{START}\n{body}{END}\n"
    problem: tuple[str, int] | None = None
    if len(starts) > 1 or len(ends) > 1:
        extra = starts[1] if len(starts) > 1 else ends[1]
        problem = (f"found {len(starts)} start and {len(ends)} end marker lines", extra[0])
    elif len(starts) != len(ends):
        lone = (starts or ends)[0]
        missing = END if starts else START
        problem = (f"the line `{missing}` is missing", lone[0])
    elif ends[0][0] < starts[0][0]:
        problem = ("the end marker comes before the start marker", ends[0][0])
    if problem:
        raise InputError(
            [
                Finding(
                    code="L001",
                    location=Location(file=file, line=problem[1]),
                    message=f"the leaderboard markers are broken: {problem[0]}",
                    expected=f"exactly one line `{START}` followed later by one line `{END}`",
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


def current_section(text: str) -> str | None:
    """The text between the markers, or None without a well-formed pair."""
    starts, ends = _marker_lines(text, START), _marker_lines(text, END)
    if len(starts) != 1 or len(ends) != 1 or ends[0][0] < starts[0][0]:
        return None
    return text[starts[0][2] : ends[0][1]]

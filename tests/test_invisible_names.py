"""Names with bidi overrides or zero-width characters are written out visibly in the PR comment,
the check run and the leaderboard (issue #10), as @mentions are defused: a model name cannot
reorder the table row it sits in, or pass for another name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from golden.cases import grade_pass, leaderboard_grades
from golden.factory import make_course

from grader.leaderboard import collect, load_records, render_section
from grader.report import render_check_run, render_comment, render_summary
from grader.report.templates import code, md, visible

# RLO ... PDF reorders what follows; RLI/LRI/FSI isolates; ZWSP/ZWNJ/ZWJ, BOM, LRM/RLM, ALM.
HIDDEN = "\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\ufeff\u200e\u200f\u061c\u00ad"
_HIDDEN_CLASS = re.compile(f"[{HIDDEN}\u202a-\u202e\u2066-\u2069]")
NAME = "int8\u202e8tni\u202c\u200b-fast"


def test_md_and_code_write_invisible_characters_out() -> None:
    assert md(NAME) == "int8⟨U+202E⟩8tni⟨U+202C⟩⟨U+200B⟩-fast"
    assert code("a\u2066b") == "`a⟨U+2066⟩b`"
    for char in HIDDEN:
        assert not _HIDDEN_CLASS.search(md(f"x{char}y")), hex(ord(char))
    assert visible("plain text, кириллица, 漢字 and émoji 🙂") == "plain text, кириллица, 漢字 and émoji 🙂"
    assert md("@someone") == "@\u2060someone"  # our own word joiner after @ stays


def _with_names(grade, name: str):
    entries = [
        e.model_copy(update={"name": f"{name}-{i}", "details": name}) for i, e in enumerate(grade.entries)
    ]
    return grade.model_copy(update={"entries": entries})


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_comment_check_run_and_summary_show_no_hidden_characters(language: str) -> None:
    grade = _with_names(grade_pass(), NAME)
    title, summary = render_check_run(grade, language)
    for text in (render_comment(grade, language), title, summary, render_summary(grade, language)):
        assert not _HIDDEN_CLASS.search(text)
    assert "int8⟨U+202E⟩8tni" in render_comment(grade, language)


def test_the_leaderboard_shows_no_hidden_characters(tmp_path: Path) -> None:
    for grade in leaderboard_grades():
        collect(_with_names(grade, NAME), tmp_path)
    section = render_section(load_records(tmp_path), make_course(), language="en")
    assert not _HIDDEN_CLASS.search(section)
    assert "int8⟨U+202E⟩8tni⟨U+202C⟩⟨U+200B⟩-fast" in section

"""The one message catalog (grader.messages): the harness's size notes and verify's notes are
keys and parameters, rendered in the reader's language with one number formatter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grader.messages import MESSAGES, NUMBER_FORMATS, render, render_note
from grader.notes import VERBATIM, Note
from grader.units import written

HARNESS_NOTES = Path(__file__).resolve().parents[1] / "grader" / "harness" / "size_notes.py"


def test_every_key_the_harness_emits_is_in_the_catalog() -> None:
    used = set(re.findall(r'notes\.add\(\s*"([a-z_.]+)"', HARNESS_NOTES.read_text(encoding="utf-8")))
    assert len(used) >= 15
    assert used <= set(MESSAGES), used - set(MESSAGES)


def test_every_number_format_in_the_catalog_is_one_the_formatter_knows() -> None:
    for key, entry in MESSAGES.items():
        for language, template in entry.items():
            for spec in re.findall(r"\{[a-z_]+:([a-z_]+)\}", template):
                assert spec in NUMBER_FORMATS, (key, language, spec)


@pytest.mark.parametrize(
    ("value", "kind", "en", "ru"),
    [
        (1000, "bytes", "1.00 kB", "1,00 кБ"),
        (455_100_000, "bytes", "455 MB", "455 МБ"),
        (0.274, "percent", "27.4 %", "27,4 %"),
        (1234567, "count", "1,234,567", "1\u00a0234\u00a0567"),
        (3.25, "number", "3.25", "3,25"),
        (
            {"float32": 0.95, "int8": 0.05},
            "shares",
            "float32 95.0 %, int8 5.0 %",
            "float32 95,0 %, int8 5,0 %",
        ),
    ],
)
def test_numbers_are_written_in_the_readers_language(value: object, kind: str, en: str, ru: str) -> None:
    assert written(value, kind, "en") == en
    assert written(value, kind, "ru") == ru


def test_a_size_note_renders_its_numbers_per_language() -> None:
    note = Note(
        key="size.uncounted", params={"file": "pytorch_model.bin", "size": 1000, "format": "safetensors"}
    )
    assert render_note(note).startswith("pytorch_model.bin (1.00 kB) is not counted in the weights")
    assert render_note(note, "ru").startswith("pytorch_model.bin (1,00 кБ) не входит в размер весов")


def test_markdown_escaping_reaches_text_parameters_only() -> None:
    note = Note(key="reason.failed", params={"phase": "@phase.load", "text": "a|b"})
    assert render_note(note, "en", escape=lambda s: s.replace("|", "\\|")) == (
        "The measurement failed at the load step: a\\|b"
    )


def test_a_verbatim_note_shows_the_old_prose_in_each_language() -> None:
    params = {"en": "old English text", "ru": "старый русский текст"}
    assert render(VERBATIM, params, "en") == "old English text"
    assert render(VERBATIM, params, "ru") == "старый русский текст"

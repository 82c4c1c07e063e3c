"""Verify's messages, now part of the one catalog (grader.messages; the texts themselves:
grader.messages.verify). Kept so `from grader.verify.messages import note, text` still works.

A check stores a Note (a key and its parameters); the English text also goes into the check's
`reason`/`hint` so the JSON reads on its own, and the report renders the note in the course's
language.
"""

from __future__ import annotations

from grader.messages import MESSAGES, Language, metric_label, note, placeholders, render, text

__all__ = ["MESSAGES", "Language", "metric_label", "note", "placeholders", "render", "text"]

"""The one message catalog: every sentence a stage means to say, by key, in Russian and English.

Stages emit grader.notes.Note(key, params) values; only the places that show text (the report,
the leaderboard, a command's console output) render them here, in the reader's language. The
catalog is made of one dict per stage that speaks (grader.messages.verify, grader.messages.size,
grader.messages.github), merged below; a key is written once. Every key exists in both languages with the same
placeholders (tests/test_verify_scoring, tests/test_messages).

A parameter is text or a number:
- text that starts with `@` names another message (`@phase.load`, `@why.failed`), rendered in the
  same language; `@quality.<metric>` is that metric's label (the task's, else its name);
- a number is written by its placeholder's format, in the reader's language, by one formatter
  (grader.units.written): `{size:bytes}`, `{share:percent}`, `{n:count}`, `{bits:number}`,
  `{shares:shares}` (a name → fraction map); a placeholder without a format writes it as is.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from typing import Any

from grader.messages.github import GITHUB
from grader.messages.size import SIZE
from grader.messages.verify import VERIFY
from grader.notes import VERBATIM, Note, Param
from grader.units import NUMBER_FORMATS, written

Language = str  # "ru" | "en"

MESSAGES: dict[str, dict[str, str]] = {
    **VERIFY,
    **SIZE,
    **GITHUB,
    # old prose, in each language as it was written: the one message whose placeholders differ
    VERBATIM: {"en": "{en}", "ru": "{ru}"},
}
assert len(MESSAGES) == len(VERIFY) + len(SIZE) + len(GITHUB) + 1, "a message key is defined twice"

__all__ = [
    "MESSAGES",
    "NUMBER_FORMATS",
    "VERBATIM",
    "Language",
    "metric_label",
    "note",
    "placeholders",
    "render",
    "render_note",
    "text",
]


class _Formatter(string.Formatter):
    """str.format with the catalog's number formats, and a named error for a missing parameter."""

    def __init__(self, language: Language) -> None:
        self.language = language

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, int) or key not in kwargs:  # the catalog's placeholders are all named
            raise KeyError(f"message parameter {{{key}}} was not given")
        return kwargs[key]

    def format_field(self, value: Any, format_spec: str) -> str:
        if format_spec in NUMBER_FORMATS:
            return written(value, format_spec, self.language)
        return format(value, format_spec)


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def render(
    key: str, params: Mapping[str, Param], language: Language, labels: dict[str, dict[str, str]] | None = None
) -> str:
    """The message ``key`` in ``language`` with ``params`` filled in (see the module docstring)."""
    entry = MESSAGES[key]
    template = entry.get(language) or entry["en"]
    values = {name: _resolve(value, language, labels) for name, value in params.items()}
    return _Formatter(language).vformat(template, (), values)


def _resolve(value: Param, language: Language, labels: dict[str, dict[str, str]] | None) -> Param:
    if isinstance(value, Note):  # a nested sentence: in the same language
        return render(value.key, value.params, language, labels)
    if not isinstance(value, str) or not value.startswith("@"):
        return value
    ref = value[1:]
    if ref.startswith("quality."):
        return metric_label(ref, language, labels)
    return render(ref, {}, language) if ref in MESSAGES else value


def note(key: str, **params: Param) -> Note:
    if key not in MESSAGES:
        raise KeyError(f"no message {key!r}")
    return Note(key=key, params=params)


def render_note(
    n: Note,
    language: Language = "en",
    labels: dict[str, dict[str, str]] | None = None,
    *,
    escape: Callable[[str], str] | None = None,
) -> str:
    """``n`` in ``language``; ``escape`` (Markdown's, in a comment or a README) is applied to its
    text parameters, which may come from a manifest, never to the catalog's own words."""
    params = n.params
    if escape is not None:
        params = {
            k: escape(v) if isinstance(v, str) and not v.startswith("@") else v for k, v in params.items()
        }
    return render(n.key, params, language, labels)


def text(n: Note | None, language: Language = "en") -> str:
    return render(n.key, n.params, language) if n is not None else ""


def metric_label(
    metric: str, language: Language, quality_labels: dict[str, dict[str, str]] | None = None
) -> str:
    """`size` → "weights size"; `quality.accuracy` → the task's label for accuracy, else "accuracy"."""
    if metric.startswith("quality."):
        name = metric.split(".", 1)[1]
        labels = (quality_labels or {}).get(name, {})
        return labels.get(language) or labels.get("en") or name
    key = f"metric.{metric}"
    return render(key, {}, language) if key in MESSAGES else metric

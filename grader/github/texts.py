"""The GitHub integration's own sentences (the frames around the report: a cut comment, a
waiting check run, a refused `/regrade`, the labels' descriptions). The texts are in the one
catalog, grader.messages.github, under `github.<key>`; this names them by their short key.
"""

from __future__ import annotations

from grader.messages import render


def text(key: str, language: str, **params: str) -> str:
    """The sentence ``key`` in Russian for `ru`, else in English."""
    return render(f"github.{key}", params, "ru" if language == "ru" else "en")

"""`grader report GRADE_JSON [--kind comment|summary|check-run] [--language ru|en] [--out FILE]`."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from grader.cli_common import err, friendly

commands = typer.Typer()  # added to `grader` by grader.cli


class Kind(StrEnum):
    COMMENT = "comment"
    SUMMARY = "summary"
    CHECK_RUN = "check-run"


class Lang(StrEnum):
    RU = "ru"
    EN = "en"


@commands.command("report")
@friendly
def report_command(
    grade: Annotated[Path, typer.Argument(help="The grade JSON from `grader verify`.")],
    kind: Annotated[
        Kind,
        typer.Option(
            "--kind",
            help="comment: the PR comment; summary: the job summary; check-run: JSON with the check "
            "run's title and summary.",
        ),
    ] = Kind.COMMENT,
    language: Annotated[
        Lang | None, typer.Option("--language", help="ru or en (default: the course's, as in the grade).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write here (default: stdout).")] = None,
    templates: Annotated[
        Path | None, typer.Option("--templates", help="The templates folder (default: the repository's).")
    ] = None,
) -> None:
    """Render a grade as Markdown in Russian or English."""
    from grader.report import render_check_run, render_comment, render_summary
    from grader.verify.models import Grade

    loaded = Grade.read(grade)
    lang = language.value if language else None
    if kind is Kind.COMMENT:
        text = render_comment(loaded, lang, templates=templates)
    elif kind is Kind.SUMMARY:
        text = render_summary(loaded, lang, templates=templates)
    else:
        title, summary = render_check_run(loaded, lang, templates=templates)
        text = json.dumps({"title": title, "summary": summary}, ensure_ascii=False, indent=2) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        from grader.atomic import write_atomic

        write_atomic(out, text)
        err.print(f"{kind.value} written to {out}", markup=False, highlight=False)

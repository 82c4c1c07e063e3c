"""What every stage's command module shares: the error console, located findings, friendly
errors and the course option. It sits below the stages and imports none of them, so a command
module imports it, never grader.cli (which imports the command modules to assemble `grader`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from grader.errors import InputError
from grader.exitcodes import ExitCode
from grader.registry import UnknownNameError

err = Console(stderr=True, highlight=False, soft_wrap=True)

P = ParamSpec("P")
R = TypeVar("R")


def print_findings(findings: list, console: Console | None = None) -> None:
    console = console or err
    for finding in findings:
        style = "red" if finding.is_error else "yellow"
        head, _, rest = finding.format().partition("\n")
        # No markup: findings quote what students wrote (`[/red]`, regex classes), never styles.
        console.print(head, style=style, markup=False, highlight=False)
        if rest:
            console.print(rest, markup=False, highlight=False)


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn the errors a user can fix into messages and exit codes instead of tracebacks."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except InputError as error:
            print_findings(error.findings)
            errors = sum(1 for f in error.findings if f.is_error)
            err.print(f"{errors} error(s); nothing was graded.", style="bold red")
            raise typer.Exit(ExitCode.BAD_INPUT) from None
        except UnknownNameError as error:
            err.print(f"error: {error}", style="red", markup=False)
            raise typer.Exit(ExitCode.BAD_INPUT) from None
        except KeyboardInterrupt:
            err.print("interrupted", style="red")
            raise typer.Exit(130) from None

    return wrapper


class Lang(StrEnum):
    """The languages of the reports, as a `--language` choice."""

    RU = "ru"
    EN = "en"


CourseOption = Annotated[
    Path | None,
    typer.Option("--course", help="course.yaml (default: the one at the repository root)."),
]


def find_repo_root(start: Path | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: cwd) that holds a course.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "course.yaml").is_file():
            return folder
    return None


def resolve_course(course: Path | None, near: Path | None = None) -> Path:
    if course is not None:
        return course
    root = find_repo_root(near) or find_repo_root()
    if root is None:
        from grader.findings import Finding, Location

        raise InputError(
            [
                Finding(
                    code="C001",
                    location=Location(file="course.yaml"),
                    message="no course.yaml found in this folder or any folder above it",
                    expected="a course repository (it has course.yaml at its root)",
                    hint="run the command inside the course repository, or pass --course path/to/course.yaml",
                )
            ]
        )
    return root / "course.yaml"

"""The `grader` command: one subcommand per stage, plus `grade` (all local stages) and `demo`.

Exit codes (grader.exitcodes): 0 ok, 1 checks or claims failed, 2 the input could not be
understood, 3 nothing to check here, 4 internal error. Bad input prints located findings, never a
traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from grader.errors import InputError
from grader.exitcodes import ExitCode
from grader.registry import UnknownNameError

app = typer.Typer(
    name="grader",
    help="Compression Grader: re-measure compressed models with one harness and verify the claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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


# Each stage registers its own subcommand(s) on `app` in a small `command` module that keeps
# heavy imports (torch, onnxruntime, PyGithub) inside the command functions, so `grader --help`
# stays fast. Add a stage: write its command module, add one line here.
COMMAND_MODULES: list[str] = [
    "grader.validate.command",
    "grader.harness.size_command",
    "grader.harness.data_command",
    "grader.harness.command",
    "grader.fetch.command",
    "grader.verify.command",
    "grader.report.command",
    "grader.leaderboard.command",
    "grader.leaderboard.gradebook_command",
    "grader.site.command",
    "grader.github.command",
    "grader.pipeline_command",
    "grader.demo.command",
]


def _register_commands() -> None:
    import importlib

    for module in COMMAND_MODULES:
        importlib.import_module(module)


_register_commands()


def main() -> None:
    if os.environ.get("GRADER_DEBUG"):
        app()
        return
    try:
        app()
    except SystemExit:
        raise
    except (Exception, RecursionError, MemoryError) as error:  # a bug of ours, or out of stack/memory
        _internal_error(error)
        sys.exit(ExitCode.INTERNAL_ERROR)


def _internal_error(error: BaseException) -> None:
    """Say so briefly (GRADER_DEBUG=1 shows the traceback); printing must not fail in its turn."""
    text = (
        f"internal error: {type(error).__name__}: {str(error)[:500]}\n"
        "This is a bug in the grader, not in your submission. Re-run with GRADER_DEBUG=1 for details."
    )
    try:
        err.print(text, style="red", markup=False)
    except Exception:  # rich itself may need memory or stack that is gone: plain stderr instead
        sys.stderr.write(text + "\n")


if __name__ == "__main__":
    # `python -m grader.cli` runs this file as __main__, a second copy of the module whose `app`
    # has no commands registered: delegate to the real module.
    from grader.cli import main as real_main

    real_main()

"""The `grader` command: one subcommand per stage, plus `grade` (all local stages) and `demo`;
`grader gh …` groups the GitHub plumbing the workflows run.

Exit codes (grader.exitcodes): 0 ok, 1 checks or claims failed, 2 the input could not be
understood, 3 nothing to check here, 4 internal error. Bad input prints located findings, never a
traceback.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from grader.cli_common import CourseOption, err, find_repo_root, friendly, print_findings, resolve_course
from grader.exitcodes import ExitCode

# The helpers live in grader.cli_common; re-exported here for callers of the old import path.
__all__ = [
    "CourseOption",
    "app",
    "err",
    "find_repo_root",
    "friendly",
    "main",
    "print_findings",
    "resolve_course",
]

app = typer.Typer(
    name="grader",
    help="Compression Grader: re-measure compressed models with one harness and verify the claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Every stage's command module, in the order `grader --help` lists them. Each keeps heavy imports
# (torch, onnxruntime, PyGithub) inside its command functions, so `grader --help` stays fast, and
# exposes its commands as `commands`, a typer.Typer (a named one, such as `gh` or `eval-data`, is a
# group); this is the one place that adds them to `grader`. Add a stage: write its command module,
# add one line here.
COMMAND_MODULES: tuple[str, ...] = (
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
)


def add_commands(root: typer.Typer, commands: typer.Typer) -> None:
    """Add a stage's commands to ``root``: a named Typer as a group, a nameless one's commands in
    place (not appended as a group, which typer lists after every plain command), so --help keeps
    the stages' order."""
    if commands.info.name:
        root.add_typer(commands)
        return
    root.registered_commands.extend(commands.registered_commands)
    root.registered_groups.extend(commands.registered_groups)


def _assemble(root: typer.Typer) -> None:
    for name in COMMAND_MODULES:
        add_commands(root, importlib.import_module(name).commands)


_assemble(app)


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

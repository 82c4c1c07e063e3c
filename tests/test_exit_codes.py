"""An internal error has an exit code of its own (issue #10): 4, never 3 ("nothing to check here"),
for any exception a bug of ours can raise, RecursionError and MemoryError included; the message
says it is the grader's fault, without a traceback unless GRADER_DEBUG asks for one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.exitcodes import ExitCode

REPO = Path(__file__).resolve().parents[1]

# A real `grader` process with one extra command that fails as a bug of ours would.
BOOM = """
import sys
import grader.cli as cli

@cli.app.command("boom")
def boom() -> None:
    raise {error}

sys.argv = ["grader", "boom"]
cli.main()
"""


def run_boom(error: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BOOM.format(error=error)],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | env,
        check=False,
    )


def test_the_codes_are_distinct() -> None:
    assert len({code.value for code in ExitCode}) == len(ExitCode)
    assert ExitCode.INTERNAL_ERROR == 4 and ExitCode.SKIPPED == 3


@pytest.mark.parametrize(
    "error",
    ['RecursionError("maximum recursion depth exceeded")', "MemoryError()", 'KeyError("oops")'],
    ids=["RecursionError", "MemoryError", "KeyError"],
)
def test_an_internal_error_exits_4_with_a_short_message(error: str) -> None:
    done = run_boom(error)
    assert done.returncode == ExitCode.INTERNAL_ERROR, done.stderr
    name = error.partition("(")[0]
    assert f"internal error: {name}" in done.stderr and "bug in the grader" in done.stderr
    assert "Traceback" not in done.stderr


def test_grader_debug_shows_the_traceback() -> None:
    done = run_boom('KeyError("oops")', GRADER_DEBUG="1")
    assert done.returncode not in (0, ExitCode.SKIPPED) and "Traceback" in done.stderr


def test_the_readme_documents_every_exit_code() -> None:
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    for code, words in [(0, "ok"), (1, "checks or claims failed"), (2, "the input could not be understood")]:
        assert f"{code} {words}" in text
    assert "3 nothing to check here" in text and "4 internal error" in text

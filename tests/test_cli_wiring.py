"""The `grader` command is assembled in one place (grader/cli.py) from each stage's `commands`
Typer; a command module imports its helpers from grader.cli_common and never grader.cli, so
importing it registers nothing and pulls in no other stage."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from grader.cli import COMMAND_MODULES, app

REPO = Path(__file__).resolve().parents[1]


def _imports_cli(module: str) -> bool:
    """Whether the module's own top level imports grader.cli (its functions may, lazily)."""
    path = REPO / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "grader.cli":
            return True
        if isinstance(node, ast.Import) and any(alias.name == "grader.cli" for alias in node.names):
            return True
    return False


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_a_command_module_exposes_commands_and_never_imports_the_cli(module: str) -> None:
    assert not _imports_cli(module)
    commands = importlib.import_module(module).commands
    assert isinstance(commands, typer.Typer)
    assert commands.registered_commands or commands.registered_groups


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_importing_a_command_module_does_not_assemble_grader(module: str) -> None:
    code = f"import sys, {module}\nprint('grader.cli' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.strip() == "False"


def test_the_commands_are_listed_in_the_stages_order() -> None:
    names = list(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert names[:4] == ["validate", "validate-course", "schema", "codes"]
    assert names.index("measure") < names.index("verify") < names.index("grade")
    assert {"eval-data", "gh"} <= set(names)

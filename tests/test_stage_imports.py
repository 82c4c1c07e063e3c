"""Stages import downward only (course/manifest → validate → fetch → harness → verify → report →
github/leaderboard), and the small shared modules stay cheap to import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from grader.task_catalog import TASKS
from grader.verify import grade

PACKAGE = Path(__file__).resolve().parents[1] / "grader"


def _imports(path: Path, *, lazy: bool = False) -> set[str]:
    """Modules a file imports when it is imported (``lazy``: inside functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree) if lazy else tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def _importers(stage: str, target: str, *, lazy: bool = False) -> list[str]:
    return sorted(
        str(path.relative_to(PACKAGE))
        for path in (PACKAGE / stage).rglob("*.py")
        if any(name == target or name.startswith(target + ".") for name in _imports(path, lazy=lazy))
    )


def test_validate_does_not_import_the_harness() -> None:
    # The task declarations validate needs live in grader.task_catalog, the config.json reading of
    # quantized checkpoints in grader.quantization, both below the two stages.
    assert _importers("validate", "grader.harness") == []
    # Left: the artifact checks call the harness's ONNX and safetensors header readers inside a
    # function; they belong to the formats' own modules (grader/formats, issue #11 item 1).
    assert _importers("validate", "grader.harness", lazy=True) == ["validate/artifacts.py"]


@pytest.mark.parametrize("upper", ["grader.report", "grader.github", "grader.leaderboard"])
def test_verify_does_not_import_the_stages_above_it(upper: str) -> None:
    assert [p for p in _importers("verify", upper) if not p.endswith("command.py")] == []


def test_importing_the_formatters_does_not_load_the_verify_stage() -> None:
    code = (
        "import sys, grader.verify.formatting\n"
        "print(sorted(m for m in sys.modules if m.startswith('grader')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['grader', 'grader.units', 'grader.verify', 'grader.verify.formatting']"


def test_an_unknown_task_falls_back_to_the_run_but_a_broken_task_module_raises(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert grade._task_metrics("no-such-task") is None
    monkeypatch.setitem(TASKS._entries, "broken-task", "grader.no_such_module_for_tests:Broken")
    with pytest.raises(ModuleNotFoundError):
        grade._task_metrics("broken-task")

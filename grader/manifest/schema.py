"""JSON Schema of the submission manifest, generated from the pydantic model.

Editors read it (the examples start with `# yaml-language-server: $schema=../../schema.json`)
to complete keys and flag mistakes while a student types. `grader schema` writes
submissions/schema.json; `grader schema --check` fails when the file is stale, and a test keeps
it current. The schema describes what the grader accepts, so where the model's validators accept
more than its types say (`homework: HW-2`, `method: pruning`), the schema says so too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grader.manifest.model import Submission

SCHEMA_ID = "urn:compression-grader:submission-manifest:v1"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_PATH = Path("submissions") / "schema.json"  # relative to the repository root

EXAMPLE: dict[str, Any] = {
    "schema_version": 1,
    "team": "ml_masters",
    "homework": 2,
    "task": "text-classification",
    "baseline": {
        "name": "rubert-tiny2",
        "artifact": {
            "hf": "ml-masters/rubert-tiny2-sentiment",
            "revision": "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8",
        },
        "claims": {
            "size": "118 MB",
            "latency_cpu": "6.1 ms",
            "ram": "410 MiB",
            "quality": {"accuracy": "87.1%"},
        },
    },
    "models": [
        {
            "name": "int8-dynamic",
            "method": "quantization",
            "details": "dynamic INT8 of every Linear layer, applied by the grader",
            "artifact": {
                "hf": "ml-masters/rubert-tiny2-sentiment",
                "revision": "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8",
            },
            "transform": "dynamic-int8",
            "claims": {"latency_cpu": "4.0 ms", "speedup_cpu": "1.5x", "quality": {"accuracy": "86.5%"}},
        }
    ],
}

_HOMEWORK_TEXT = r"^\s*(?:[Hh][Ww]|[Дд][Зз])?[-_ ]?[0-9]+\s*$"


def manifest_json_schema() -> dict[str, Any]:
    """The schema as a dict, with the identity, dialect and example editors use."""
    schema = Submission.model_json_schema(mode="validation")
    _widen_homework(schema["properties"]["homework"])
    _widen_method(schema["$defs"]["ModelEntry"]["properties"]["method"])
    return {
        "$schema": SCHEMA_DIALECT,
        "$id": SCHEMA_ID,
        **schema,
        "description": (
            "One team's submission for one homework: submissions/<team>/hw-<n>/submission.yaml. "
            "Documented in submissions/README.md; finding codes in docs/findings.md."
        ),
        "examples": [EXAMPLE],
    }


def _widen_homework(prop: dict[str, Any]) -> None:
    """`homework: HW-2` is accepted (and read as 2), as the model's validator does."""
    number = {key: prop.pop(key) for key in ("type", "minimum", "exclusiveMinimum") if key in prop}
    prop["anyOf"] = [number, {"type": "string", "pattern": _HOMEWORK_TEXT}]
    prop["examples"] = [2, "HW-2"]


def _widen_method(prop: dict[str, Any]) -> None:
    """`method: pruning` is accepted as `[pruning]`, as the model's validator does."""
    items = prop["items"]
    array = {key: prop.pop(key) for key in ("type", "items", "minItems") if key in prop}
    prop["anyOf"] = [items, array]
    prop["examples"] = ["quantization", ["pruning", "quantization"]]


def render_schema() -> str:
    return json.dumps(manifest_json_schema(), indent=2, ensure_ascii=False) + "\n"


def write_schema(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_schema(), encoding="utf-8")
    return path


def schema_is_current(path: Path) -> bool:
    try:
        return path.read_text(encoding="utf-8") == render_schema()
    except OSError:
        return False

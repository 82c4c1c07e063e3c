"""Generated documentation stays current: finding codes (docs/findings.md) and the JSON Schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from grader.cli import app
from grader.codes import all_codes
from grader.manifest.model import Submission
from grader.manifest.schema import EXAMPLE, SCHEMA_ID, manifest_json_schema, render_schema, schema_is_current
from grader.validate.codes import CODES
from grader.validate.output import codes_markdown

REPO = Path(__file__).resolve().parents[1]
FINDINGS_MD = REPO / "docs" / "findings.md"
SCHEMA_JSON = REPO / "submissions" / "schema.json"

# Where a finding's code is written: `code="M001"`, or first in a tuple `("S001", "...")`.
_EMITTED = re.compile(r"""code\s*=\s*["']([A-Z]\d{3})["']|\(\s*["']([A-Z]\d{3})["']\s*,\s*["']""")


def emitted_codes() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / "grader").rglob("*.py")):
        for match in _EMITTED.finditer(path.read_text(encoding="utf-8")):
            code = match.group(1) or match.group(2)
            found.setdefault(code, []).append(str(path.relative_to(REPO)))
    return found


def test_every_code_emitted_in_grader_is_documented() -> None:
    emitted = emitted_codes()
    documented = all_codes()
    missing = {code: files for code, files in emitted.items() if code not in documented}
    assert not missing, f"codes without a CodeDoc (add them to the area's codes.py): {missing}"
    # the scan does see the codes (a regex that matched nothing would pass the check above)
    assert {"Y001", "S002", "U002", "M001", "A004", "P001", "C001", "D001"} <= set(emitted)


def test_validation_codes_are_complete_and_well_formed() -> None:
    codes = [doc.code for doc in CODES]
    assert len(codes) == len(set(codes))
    for doc in CODES:
        assert re.fullmatch(r"[YSUMAPCD]\d{3}", doc.code), doc.code
        assert doc.title and doc.example and doc.fix.endswith((".", ")")), doc.code
    for prefix, count in {"Y": 6, "S": 6, "U": 7, "D": 5}.items():
        assert [c for c in codes if c[0] == prefix] == [f"{prefix}{i:03d}" for i in range(1, count + 1)]


def test_docs_findings_md_is_current() -> None:
    expected = codes_markdown(all_codes())
    actual = FINDINGS_MD.read_text(encoding="utf-8") if FINDINGS_MD.exists() else ""
    assert actual == expected, "docs/findings.md is stale: run `grader codes --out docs/findings.md`"


def test_codes_command(tmp_path: Path) -> None:
    runner = CliRunner()
    listing = runner.invoke(app, ["codes"])
    assert listing.exit_code == 0 and "U002" in listing.output and "Ambiguous size unit" in listing.output
    markdown = runner.invoke(app, ["codes", "--markdown"])
    assert markdown.stdout == codes_markdown(all_codes())
    out = tmp_path / "findings.md"
    assert runner.invoke(app, ["codes", "--out", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == markdown.stdout


def test_schema_json_is_current() -> None:
    assert schema_is_current(SCHEMA_JSON), "submissions/schema.json is stale: run `grader schema`"


def test_schema_command_writes_and_checks(tmp_path: Path) -> None:
    runner = CliRunner()
    target = tmp_path / "schema.json"
    assert runner.invoke(app, ["schema", "--check", "--out", str(target)]).exit_code == 1
    assert runner.invoke(app, ["schema", "--out", str(target)]).exit_code == 0
    assert target.read_text(encoding="utf-8") == render_schema()
    assert runner.invoke(app, ["schema", "--check", "--out", str(target)]).exit_code == 0
    target.write_text(render_schema().replace("Always 1", "Sometimes 1"), encoding="utf-8")
    stale = runner.invoke(app, ["schema", "--check", "--out", str(target)])
    assert stale.exit_code == 1 and "grader schema" in stale.output


def test_schema_content() -> None:
    schema = json.loads(SCHEMA_JSON.read_text(encoding="utf-8"))
    assert schema["$id"] == SCHEMA_ID
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"team", "homework", "task", "models"}
    entry = schema["$defs"]["ModelEntry"]["properties"]
    assert entry["format"]["enum"] == [
        "safetensors",
        "onnx",
        "openvino",
        "tensorrt",
        "torchscript",
        "torch-export",
    ]
    assert {"$ref": "#/$defs/Method"} in entry["method"]["anyOf"]  # `method: pruning` is allowed
    assert {"type": "string", "pattern": schema["properties"]["homework"]["anyOf"][1]["pattern"]} in schema[
        "properties"
    ]["homework"]["anyOf"]
    assert schema["$defs"]["Claims"]["properties"]["size"]["description"].startswith("Weights size")
    # the schema's example is a manifest the grader accepts
    assert Submission.model_validate(schema["examples"][0]) == Submission.model_validate(EXAMPLE)


def test_widened_fields_match_what_the_model_accepts() -> None:
    schema = manifest_json_schema()
    pattern = re.compile(schema["properties"]["homework"]["anyOf"][1]["pattern"])
    for text in ("HW-2", "hw2", "ДЗ-2", " 2 "):
        assert pattern.search(text)
        assert Submission.model_validate({**EXAMPLE, "homework": text}).homework == 2
    assert not pattern.search("homework two")

"""grader.yamlio: safe YAML that remembers the line and column of every key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.yamlio import format_path, load_yaml_file, load_yaml_text

TEXT = """\
team: ml_masters
homework: 2
models:
  - name: int8
    claims:
      size: 120 MB
      quality: {accuracy: 82%}
  - name: fp16
"""


def test_positions_of_keys_and_values() -> None:
    loaded = load_yaml_text(TEXT, "submission.yaml")
    assert loaded.findings == []
    assert loaded.data["models"][0]["claims"]["size"] == "120 MB"
    pos = loaded.positions

    def at(position) -> tuple[int, int]:
        return position.line, position.column

    assert at(pos.value(("homework",))) == (2, 11)
    assert at(pos.key(("models", 0, "claims", "size"))) == (6, 7)
    assert at(pos.value(("models", 0, "claims", "size"))) == (6, 13)
    assert at(pos.value(("models", 0, "claims", "quality", "accuracy"))) == (7, 27)  # inside a {flow}
    assert at(pos.value(("models", 1, "name"))) == (8, 11)


def test_location_falls_back_to_the_closest_ancestor() -> None:
    loaded = load_yaml_text(TEXT, "submission.yaml")
    location = loaded.positions.location(("models", 1, "claims", "size"))
    assert location.line == 8  # models[1] has no claims: its own line
    assert location.field == "models[1].claims.size"
    assert str(location) == "submission.yaml:8:5"


def test_format_path() -> None:
    assert format_path(("models", 0, "claims", "size")) == "models[0].claims.size"
    assert format_path(()) == ""
    assert format_path(("baseline",)) == "baseline"


def test_duplicate_key_is_a_finding_with_both_lines() -> None:
    loaded = load_yaml_text("team: a\nhomework: 2\nteam: b\n", "m.yaml")
    assert loaded.data == {"team": "b", "homework": 2}
    [finding] = loaded.findings
    assert finding.code == "Y002"
    assert (finding.location.line, finding.location.column) == (3, 1)
    assert "first at line 1" in finding.found


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("team: a\nmodels:\n  - name: x\n   format: onnx\n", 4),  # bad indentation
        ("team: a\nmodels: [a, b\nhomework: 2\n", 3),  # unclosed flow sequence
        ("team: a\n\thomework: 2\n", 2),  # a tab
    ],
)
def test_syntax_error_has_line_and_column_and_no_exception(text: str, line: int) -> None:
    loaded = load_yaml_text(text, "m.yaml")
    assert loaded.data is None
    [finding] = loaded.findings
    assert finding.code == "Y001"
    assert finding.location.line == line
    assert finding.location.column is not None
    assert finding.message.startswith("YAML syntax error")


def test_tags_that_would_build_python_objects_are_refused() -> None:
    loaded = load_yaml_text("x: !!python/object/apply:os.system ['echo pwned']\n", "m.yaml")
    assert loaded.data is None
    assert [f.code for f in loaded.findings] == ["Y001"]


def test_empty_document() -> None:
    loaded = load_yaml_text("# only a comment\n", "m.yaml")
    assert loaded.data is None and loaded.findings == []


def test_unreadable_files(tmp_path: Path) -> None:
    missing = load_yaml_file(tmp_path / "nope.yaml")
    assert [f.code for f in missing.findings] == ["Y003"]
    assert missing.findings[0].found == "the file does not exist"
    folder = load_yaml_file(tmp_path)
    assert folder.findings[0].code == "Y003" and "folder" in folder.findings[0].found
    latin1 = tmp_path / "latin1.yaml"
    latin1.write_bytes("team: caf\xe9\n".encode("latin-1"))
    not_utf8 = load_yaml_file(latin1, "shown.yaml")
    assert not_utf8.findings[0].code == "Y003"
    assert not_utf8.findings[0].location.file == "shown.yaml"
    assert "UTF-8" in not_utf8.findings[0].found

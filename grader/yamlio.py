"""YAML loading that remembers where every key and value stands in the file.

PyYAML's safe constructor builds plain data (no tags that run code). We compose the node tree
first, record line/column of each key and value, then construct the data from the same nodes,
so a later check can point at `submission.yaml:14:9` instead of "somewhere in the file".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from grader.findings import Finding, Location

PathKey = tuple[str | int, ...]


def format_path(path: PathKey) -> str:
    """("models", 0, "claims", "size") → "models[0].claims.size"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class PositionMap:
    """Where each key and value of a YAML document stands."""

    file: str
    values: dict[PathKey, Position] = field(default_factory=dict)
    keys: dict[PathKey, Position] = field(default_factory=dict)

    def value(self, path: PathKey) -> Position | None:
        """Position of the value at ``path``, or of its closest ancestor that exists."""
        for end in range(len(path), -1, -1):
            found = self.values.get(path[:end])
            if found is not None:
                return found
        return None

    def key(self, path: PathKey) -> Position | None:
        """Position of the key that names ``path`` (falls back to the value, then ancestors)."""
        return self.keys.get(path) or self.value(path)

    def location(self, path: PathKey, *, at_key: bool = False) -> Location:
        pos = self.key(path) if at_key else self.value(path)
        return Location(
            file=self.file,
            line=pos.line if pos else None,
            column=pos.column if pos else None,
            field=format_path(path) or None,
        )


@dataclass
class LoadedYaml:
    data: Any
    positions: PositionMap
    findings: list[Finding]


class _Loader(yaml.SafeLoader):
    """Safe loader; YAML 1.1's `yes`/`no`/`on`/`off` booleans stay as written strings would surprise
    students less, but we keep PyYAML's resolver and check types in the schema instead."""


def _position(mark: yaml.Mark) -> Position:
    return Position(line=mark.line + 1, column=mark.column + 1)


def _walk(node: yaml.Node, path: PathKey, positions: PositionMap, findings: list[Finding]) -> None:
    positions.values[path] = _position(node.start_mark)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, Position] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.value)
            key_pos = _position(key_node.start_mark)
            if key in seen:
                first = seen[key]
                findings.append(
                    Finding(
                        code="Y002",
                        location=Location(
                            file=positions.file,
                            line=key_pos.line,
                            column=key_pos.column,
                            field=format_path((*path, key)),
                        ),
                        message=f"duplicate key {key!r}",
                        expected="each key once per mapping",
                        found=f"{key!r} again (first at line {first.line})",
                        hint="YAML keeps only the last value, silently; delete or merge one of them",
                    )
                )
            seen[key] = key_pos
            positions.keys[(*path, key)] = key_pos
            _walk(value_node, (*path, key), positions, findings)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), positions, findings)


def syntax_finding(file: str, error: yaml.YAMLError) -> Finding:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    message = f"YAML syntax error: {problem}" + (f" ({context})" if context else "")
    return Finding(
        code="Y001",
        location=Location(
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
        ),
        message=message,
        expected="valid YAML (key: value pairs, consistent indentation with spaces)",
        found=_source_line(mark),
        hint="check the indentation and quoting on this line and the line before it; "
        "tabs are not allowed for indentation",
    )


def _source_line(mark: yaml.Mark | None) -> str:
    if mark is None or mark.buffer is None:
        return ""
    lines = mark.buffer.rstrip("\0").splitlines()
    return lines[mark.line].rstrip() if 0 <= mark.line < len(lines) else ""


def load_yaml_text(text: str, file: str) -> LoadedYaml:
    """Parse ``text``; syntax errors come back as a Y001 finding, never as an exception."""
    positions = PositionMap(file=file)
    findings: list[Finding] = []
    try:
        node = yaml.compose(text, Loader=_Loader)
        if node is None:
            return LoadedYaml(data=None, positions=positions, findings=findings)
        _walk(node, (), positions, findings)
        loader = _Loader(text)
        try:
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as error:
        return LoadedYaml(data=None, positions=positions, findings=[syntax_finding(file, error)])
    return LoadedYaml(data=data, positions=positions, findings=findings)


def load_yaml_file(path: Path, display_name: str | None = None) -> LoadedYaml:
    """Read and parse a YAML file. Unreadable files come back as a finding too."""
    name = display_name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _unreadable(name, "the file does not exist", "check the path")
    except IsADirectoryError:
        return _unreadable(name, "this is a folder", "give the path of the YAML file inside it")
    except UnicodeDecodeError as error:
        return _unreadable(name, f"not UTF-8 text ({error.reason} at byte {error.start})", "save it as UTF-8")
    except OSError as error:
        return _unreadable(name, error.strerror or str(error), "check the path and its permissions")
    return load_yaml_text(text, name)


def _unreadable(file: str, found: str, hint: str) -> LoadedYaml:
    finding = Finding(
        code="Y003",
        location=Location(file=file),
        message="cannot read the file",
        expected="a readable UTF-8 YAML file",
        found=found,
        hint=hint,
    )
    return LoadedYaml(data=None, positions=PositionMap(file=file), findings=[finding])

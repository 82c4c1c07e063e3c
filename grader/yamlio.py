"""YAML loading that remembers where every key and value stands in the file.

PyYAML's safe constructor builds plain data (no tags that run code). We compose the node tree
first, record line/column of each key and value, then construct the data from the same nodes,
so a later check can point at `submission.yaml:14:9` instead of "somewhere in the file".

Hostile YAML is refused before it costs anything: the file's size is capped before it is read,
nesting depth is capped while scanning (PyYAML's composer recurses once per level, and its scanner
slows down on deep flow collections), and the number of nodes a document expands to through
aliases is counted while composing, so a "billion laughs" document is refused after a few
hundred nodes instead of being expanded by the checks that walk it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from grader.findings import Finding, Location

if TYPE_CHECKING:
    from typing import TypeAlias

    from yaml._yaml import Mark as _CMark

    # PyYAML's stubs type an event's marks as PyYAML's Mark or libyaml's; both have line, column
    # and buffer. Our loader is the pure-Python one, but the events' type does not say so.
    AnyMark: TypeAlias = yaml.Mark | _CMark

PathKey = tuple[str | int, ...]

# A submission manifest is a few kilobytes; course.yaml and the report strings are tens.
MAX_YAML_BYTES = 256 * 1024
# The deepest path a manifest or course.yaml needs is about six levels (models[0].claims.quality.x).
MAX_YAML_DEPTH = 32
# Nodes of the document once every alias is expanded: what the checks below will walk. A real
# manifest has a few hundred; counting stops the scan as soon as a document passes the budget.
MAX_YAML_NODES = 50_000


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


class _BudgetError(Exception):
    """A document over one of the budgets; becomes a finding with the code and the mark given."""

    def __init__(self, code: str, mark: AnyMark | None, message: str, found: str, hint: str) -> None:
        super().__init__(message)
        self.code, self.mark, self.message, self.found, self.hint = code, mark, message, found, hint
        self.field: str | None = None  # where in the document, set by the loader that raised it


class _Loader(yaml.SafeLoader):
    """Safe loader; YAML 1.1's `yes`/`no`/`on`/`off` booleans stay as written strings would surprise
    students less, but we keep PyYAML's resolver and check types in the schema instead.

    It also enforces the depth and node budgets (see the module's docstring)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) → values it expands to, aliases written out
        self._total = 0  # values composed so far, aliases written out
        self._path: list[str | int | None] = []  # the nodes being composed (None: a mapping key)

    def fetch_flow_collection_start(self, TokenClass: type) -> None:  # noqa: N803 (PyYAML's name)
        # Counted in the scanner: PyYAML's simple-key bookkeeping makes deep `[[[[` quadratic.
        if self.flow_level >= MAX_YAML_DEPTH:
            raise self._too_deep(self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column: int) -> bool:
        if len(self.indents) >= MAX_YAML_DEPTH:  # `- - - - -` on one line nests block lists
            raise self._too_deep(self.get_mark())
        return super().add_indent(column)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()
        # PyYAML passes a mapping value's key node, a list item's position, None for a key.
        self._path.append(index.value if isinstance(index, yaml.ScalarNode) else index)
        try:
            if isinstance(event, yaml.AliasEvent):
                self._check_alias(event)
            if len(self._path) > MAX_YAML_DEPTH:
                raise self._too_deep(event.start_mark)
            node = super().compose_node(parent, index)
            if node is None:  # typed so by PyYAML's stubs; it composes a node for every event it reaches
                return None
            size = self._sizes.get(id(node))
            if size is None:
                size = 1 + sum(self._sizes[id(child)] for child in _children(node))
                self._sizes[id(node)] = size
            # An alias adds everything it stands for; a new node adds itself (its children were
            # counted as they were composed), so the total is the document's size so far.
            self._total += size if isinstance(event, yaml.AliasEvent) else 1
            if self._total > MAX_YAML_NODES:
                raise self._refuse(
                    "Y006",
                    event.start_mark,
                    f"the document holds more than {MAX_YAML_NODES:,} values (aliases written out) by here",
                    f"{self._total:,} values so far, every `*alias` written out",
                    "use anchors and aliases (`&name`, `*name`) sparingly, or write the values out",
                )
        finally:
            self._path.pop()
        return node

    def _check_alias(self, event: yaml.AliasEvent) -> None:
        target = self.anchors.get(event.anchor)
        if target is not None and id(target) not in self._sizes:  # its anchor is still open
            raise self._refuse(
                "Y006",
                event.start_mark,
                f"the alias *{event.anchor} refers to the value that contains it",
                f"*{event.anchor} inside &{event.anchor}",
                "a value cannot contain itself; write the value out instead of the alias",
            )

    def _too_deep(self, mark: AnyMark | None) -> _BudgetError:
        return self._refuse(
            "Y005",
            mark,
            f"the YAML nests deeper than {MAX_YAML_DEPTH} levels",
            f"more than {MAX_YAML_DEPTH} nested mappings or lists",
            "a manifest needs a few levels (models → claims → quality); remove the extra brackets or "
            "indentation",
        )

    def _refuse(self, code: str, mark: AnyMark | None, message: str, found: str, hint: str) -> _BudgetError:
        error = _BudgetError(code, mark, message, found, hint)
        # The outermost levels name the place; a 100 000-level path would say nothing more.
        parts = [part for part in self._path if part is not None][:6]
        error.field = format_path(tuple(parts)) or None
        return error


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


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


def refused_finding(file: str, refused: _BudgetError) -> Finding:
    mark = refused.mark
    budget = {
        "Y005": f"at most {MAX_YAML_DEPTH} levels of nesting",
        "Y006": f"at most {MAX_YAML_NODES:,} values, aliases written out, and no alias inside its own anchor",
    }[refused.code]
    return Finding(
        code=refused.code,
        location=Location(
            file=file,
            line=mark.line + 1 if mark else None,
            column=mark.column + 1 if mark else None,
            field=refused.field,
        ),
        message=refused.message,
        expected=budget,
        found=refused.found,
        hint=refused.hint,
    )


def _source_line(mark: AnyMark | None) -> str:
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
    except _BudgetError as refused:
        return LoadedYaml(
            data=None, positions=PositionMap(file=file), findings=[refused_finding(file, refused)]
        )
    return LoadedYaml(data=data, positions=positions, findings=findings)


def load_yaml_file(
    path: Path, display_name: str | None = None, *, max_bytes: int = MAX_YAML_BYTES
) -> LoadedYaml:
    """Read and parse a YAML file. Unreadable or oversized files come back as a finding too."""
    name = display_name or str(path)
    try:
        with path.open("rb") as handle:  # read at most one byte past the cap, whatever stat says
            raw = handle.read(max_bytes + 1)
        if len(raw) > max_bytes:
            return _too_large(name, max_bytes)
        text = raw.decode("utf-8")
    except FileNotFoundError:
        return _unreadable(name, "the file does not exist", "check the path")
    except IsADirectoryError:
        return _unreadable(name, "this is a folder", "give the path of the YAML file inside it")
    except UnicodeDecodeError as error:
        return _unreadable(name, f"not UTF-8 text ({error.reason} at byte {error.start})", "save it as UTF-8")
    except OSError as error:
        return _unreadable(name, error.strerror or str(error), "check the path and its permissions")
    return load_yaml_text(text, name)


def _too_large(file: str, max_bytes: int) -> LoadedYaml:
    finding = Finding(
        code="Y004",
        location=Location(file=file, line=1),
        message="the YAML file is larger than the grader reads",
        expected=f"at most {max_bytes // 1024} KiB",
        found=f"more than {max_bytes // 1024} KiB",
        hint="a manifest names files and claims; put models, data and long notes in files beside it",
    )
    return LoadedYaml(data=None, positions=PositionMap(file=file), findings=[finding])


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

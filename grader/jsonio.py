"""JSON from a submission, read with a size cap and a depth cap, never an exception for bad input.

Python's json module recurses once per nesting level: a `config.json` of 200 000 `[` ends in a
RecursionError, and whatever walks the parsed value afterwards recurses again. Every JSON file a
submission ships (config.json, tokenizer.json, indexes) is read here first: at most ``max_bytes``
bytes, at most ``max_depth`` levels, or a short problem in words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Hugging Face configs and tokenizers nest a handful of levels; 64 leaves room and stays far
# below Python's recursion limit for any code that walks the value.
MAX_JSON_DEPTH = 64


@dataclass(frozen=True)
class JsonRead:
    data: Any = None
    problem: str | None = None  # None when ``data`` is the file's value


def read_json(path: Path, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> JsonRead:
    try:
        with path.open("rb") as handle:  # at most one byte past the cap, whatever stat says
            raw = handle.read(max_bytes + 1)
    except OSError as error:
        return JsonRead(problem=f"it cannot be read ({error.strerror or error})")
    if len(raw) > max_bytes:
        return JsonRead(problem=f"it is larger than {max_bytes // 2**20} MiB")
    return parse_json(raw, max_depth)


def parse_json(raw: bytes, max_depth: int = MAX_JSON_DEPTH) -> JsonRead:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        return JsonRead(problem=f"it is not UTF-8 text (byte {error.start})")
    except json.JSONDecodeError as error:
        return JsonRead(problem=f"it is not JSON: {error.msg} at line {error.lineno}, column {error.colno}")
    except RecursionError:  # json's C decoder stops cleanly at the interpreter's limit
        return JsonRead(problem=f"it nests deeper than {max_depth} levels")
    if too_deep(data, max_depth):
        return JsonRead(problem=f"it nests deeper than {max_depth} levels")
    return JsonRead(data=data)


def too_deep(value: Any, max_depth: int) -> bool:
    """Does ``value`` nest more than ``max_depth`` lists or objects? Iterative: no recursion here."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False

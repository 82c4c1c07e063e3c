"""Turn pydantic validation errors into located findings (file:line:col, field, expected, hint)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from grader.findings import Finding
from grader.yamlio import PathKey, PositionMap

# pydantic error type → (code, what was expected). Codes are documented in grader/codes.py.
_TYPE_CODES: dict[str, tuple[str, str]] = {
    "missing": ("S001", "this field is required"),
    "extra_forbidden": ("S002", "only the fields the schema defines"),
    "literal_error": ("S003", "one of the allowed values"),
    "enum": ("S003", "one of the allowed values"),
    "string_type": ("S004", "text"),
    "int_type": ("S004", "a whole number"),
    "int_parsing": ("S004", "a whole number"),
    "int_from_float": ("S004", "a whole number"),
    "float_type": ("S004", "a number"),
    "float_parsing": ("S004", "a number"),
    "bool_type": ("S004", "true or false"),
    "bool_parsing": ("S004", "true or false"),
    "dict_type": ("S004", "a mapping of `key: value` lines"),
    "model_type": ("S004", "a mapping of `key: value` lines"),
    "list_type": ("S004", "a list (lines starting with `- `)"),
    "datetime_type": ("S004", "a date and time such as 2025-10-01T23:59:00+03:00"),
    "datetime_parsing": ("S004", "a date and time such as 2025-10-01T23:59:00+03:00"),
    "datetime_from_date_parsing": ("S004", "a date and time such as 2025-10-01T23:59:00+03:00"),
    "string_pattern_mismatch": ("S005", "text in the documented form"),
    "too_short": ("S005", "at least one entry"),
    "too_long": ("S005", "fewer entries"),
    "greater_than": ("S005", "a larger value"),
    "greater_than_equal": ("S005", "a larger value"),
    "less_than": ("S005", "a smaller value"),
    "less_than_equal": ("S005", "a smaller value"),
    "value_error": ("S006", "a valid value"),
    "assertion_error": ("S006", "a valid value"),
}


# A union of scalars (`str | float | int`) reports one error per member, each located under the
# member's name: ('size', 'str'), ('size', 'float'). A last part that names the very type the
# error is about is such a branch, not a field.
_UNION_BRANCHES: dict[str, str] = {
    "string_type": "str",
    "float_type": "float",
    "float_parsing": "float",
    "int_type": "int",
    "int_parsing": "int",
    "int_from_float": "int",
    "bool_type": "bool",
    "bool_parsing": "bool",
}

# Merged branch expectations: one that another already admits is not repeated.
_SUBSUMED = {"a whole number": "a number"}


def _clean_path(loc: tuple[Any, ...], kind: str = "") -> PathKey:
    """Drop pydantic's union-branch and function markers from an error location."""
    path: list[str | int] = []
    for part in loc:
        is_marker = isinstance(part, str) and (part.startswith(("function-", "tagged-union")) or "[" in part)
        if not is_marker:
            path.append(part)
    if len(path) > 1 and path[-1] == _UNION_BRANCHES.get(kind):
        path.pop()
    return tuple(path)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping" if value else "an empty mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing (empty value)"
    return repr(value)


def _fields_of(model: type[BaseModel] | None, path: PathKey) -> list[str]:
    """The field names allowed at ``path`` inside ``model`` (for 'did you mean' hints)."""
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = _inner_model(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return [info.alias or name for name, info in fields.items()] if fields else []


def _inner_model(annotation: Any) -> Any:
    """Find the BaseModel inside Optional[...] / list[...] / dict[..., Model] annotations."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def findings_from_validation_error(
    error: ValidationError,
    positions: PositionMap,
    *,
    root_model: type[BaseModel] | None = None,
    prefix: PathKey = (),
    hints: dict[str, str] | None = None,
) -> list[Finding]:
    """One finding per pydantic error, located at the offending key or value.

    ``hints`` maps a dotted field path (without list indices) to a fix hint for that field.
    """
    findings: list[Finding] = []
    seen: set[tuple[PathKey, str]] = set()
    type_errors: dict[PathKey, int] = {}  # path → index of its S004 finding, to merge union branches
    for item in error.errors(include_url=False):
        kind = item["type"]
        path = (*prefix, *_clean_path(item["loc"], kind))
        if (path, kind) in seen:
            continue
        seen.add((path, kind))
        code, expected = _TYPE_CODES.get(kind, ("S006", "a valid value"))
        if code == "S004" and path in type_errors:
            index = type_errors[path]
            if _SUBSUMED.get(expected, expected) in findings[index].expected:
                continue  # "a number" already admits "a whole number"
            merged = f"{findings[index].expected} or {expected}"
            findings[index] = findings[index].model_copy(
                update={"expected": merged, "message": f"wrong type: expected {merged}"}
            )
            continue
        message = item["msg"]
        found = "" if kind == "missing" else _describe(item.get("input"))
        hint = _hint_for(kind, path, item, root_model, prefix, hints or {})
        if kind == "extra_forbidden":
            message = f"unknown field {path[-1]!r}"
        elif kind == "missing":
            message = f"missing required field {path[-1]!r}"
        elif kind in {"literal_error", "enum"}:
            allowed = item.get("ctx", {}).get("expected", "")
            expected = f"one of {allowed}" if allowed else expected
        elif kind in {"value_error", "assertion_error"}:
            message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if code == "S004":
            type_errors[path] = len(findings)
        findings.append(
            Finding(
                code=code,
                location=positions.location(path, at_key=kind in {"extra_forbidden", "missing"}),
                message=message,
                expected=expected,
                found=found,
                hint=hint,
            )
        )
    return findings


def _hint_for(
    kind: str,
    path: PathKey,
    item: Any,
    root_model: type[BaseModel] | None,
    prefix: PathKey,
    hints: dict[str, str],
) -> str:
    dotted = ".".join(str(p) for p in path if not isinstance(p, int))
    if dotted in hints:
        return hints[dotted]
    relative = path[len(prefix) :]
    if kind == "extra_forbidden":
        allowed = _fields_of(root_model, relative[:-1])
        close = difflib.get_close_matches(str(relative[-1]), allowed, n=1, cutoff=0.6)
        if close:
            return f"did you mean {close[0]!r}? Allowed here: {', '.join(allowed)}"
        if allowed:
            return f"remove it; allowed here: {', '.join(allowed)}"
        return "remove it"
    if kind == "missing":
        return f"add `{relative[-1]}:` here (see submissions/schema.json or the examples)"
    if kind in {"literal_error", "enum"}:
        value = item.get("input")
        allowed_text = item.get("ctx", {}).get("expected", "")
        options = [
            part.strip(" '\"") for part in allowed_text.replace(" or ", ",").split(",") if part.strip()
        ]
        close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5)
        return f"did you mean {close[0]!r}?" if close else "use one of the allowed values"
    return "see submissions/schema.json or the examples in submissions/_examples/"


def dedupe(findings: Iterable[Finding]) -> list[Finding]:
    out: list[Finding] = []
    seen: set[tuple[str, str | None, int | None, str]] = set()
    for f in findings:
        key = (f.code, f.location.field, f.location.line, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out

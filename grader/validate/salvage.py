"""Read a manifest part by part, so one mistake does not hide the others.

pydantic validates a model as a whole: one bad field fails the whole `Submission`, and the
course, artifact and claim checks would have nothing to look at. Here each field of a mapping is
validated on its own (with the model's own field validators), and the fields that are valid are
kept, with the key they were written under. A key that is misspelt (`claim:` for `claims:`) is
read as the field it most likely means; the schema check has already reported the misspelling.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from grader.yamlio import PathKey

# How close an unknown key must be to a field name to be read as that field.
_RENAME_CUTOFF = 0.8


@dataclass(frozen=True)
class Part:
    """The valid fields of one mapping in the manifest."""

    path: PathKey  # where the mapping stands in the document
    raw: Mapping[str, Any]  # the mapping as written
    values: dict[str, Any] = field(default_factory=dict)  # field name → validated value
    keys: dict[str, str] = field(default_factory=dict)  # field name → the key it was written under

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def has(self, name: str) -> bool:
        return name in self.values

    def written(self, name: str) -> bool:
        """The field was written (valid or not), under its own name or a close misspelling."""
        return name in self.keys

    def raw_value(self, name: str) -> Any:
        return self.raw.get(self.keys[name]) if name in self.keys else None

    def path_of(self, name: str) -> PathKey:
        """Where the field stands: under the key actually written, else under its own name."""
        return (*self.path, self.keys.get(name, name))


def likely_keys(model: type[BaseModel], raw: Mapping[str, Any]) -> dict[str, str]:
    """field name → key written for it: the exact key, else an unknown key that is close to it."""
    names = {info.alias or name: name for name, info in model.model_fields.items()}
    found = {names[key]: key for key in raw if isinstance(key, str) and key in names}
    unknown = [key for key in raw if isinstance(key, str) and key not in names]
    for key in unknown:
        missing = [alias for alias, name in names.items() if name not in found]
        close = difflib.get_close_matches(key.lower(), missing, n=1, cutoff=_RENAME_CUTOFF)
        if close:
            found[names[close[0]]] = key
    return found


def salvage(model: type[BaseModel], raw: Any, path: PathKey) -> Part:
    """Validate each field of ``raw`` alone; keep the ones that are valid on their own."""
    if not isinstance(raw, Mapping):
        return Part(path=path, raw={})
    keys = likely_keys(model, raw)
    values: dict[str, Any] = {}
    for name, key in keys.items():
        # A fresh holder per field: a model validator that relates two fields then sees this one
        # next to defaults, so one bad combination does not discard both fields.
        holder = model.model_construct()
        try:
            # Assignment validation runs the field's own validators (`HW-2` → 2, `quantization`
            # → [quantization]) exactly as a whole-model validation would.
            model.__pydantic_validator__.validate_assignment(holder, name, raw[key])
        except (ValidationError, AttributeError):
            # AttributeError: a model validator that looks at a field this partial model lacks.
            continue
        values[name] = getattr(holder, name)
    return Part(path=path, raw=raw, values=values, keys=keys)

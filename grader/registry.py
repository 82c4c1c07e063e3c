"""Name → implementation registries with lazy imports.

Each entry is a ``"module:Attribute"`` string, so a backend's heavy runtime (TensorRT,
OpenVINO) is imported only when a run asks for that backend.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping
from typing import Any


class UnknownNameError(LookupError):
    """A lookup by name failed; the message suggests the closest names."""

    def __init__(self, kind: str, name: str, available: list[str]) -> None:
        self.kind = kind
        self.name = name
        self.available = available
        self.suggestions = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
        super().__init__(suggest_message(kind, name, available, self.suggestions))


def suggest_message(kind: str, name: str, available: list[str], suggestions: list[str] | None = None) -> str:
    """`Unknown backend 'onxruntime'. Did you mean: onnxruntime? Available: ...`"""
    if suggestions is None:
        suggestions = difflib.get_close_matches(name, available, n=3, cutoff=0.6)
    text = f"Unknown {kind} {name!r}."
    if suggestions:
        text += f" Did you mean: {', '.join(suggestions)}?"
    return text + f" Available: {', '.join(sorted(available))}."


class Registry(Mapping[str, str]):
    """A read-only mapping of names to ``"module:Attribute"`` targets, resolved on demand."""

    def __init__(self, kind: str, entries: Mapping[str, str]) -> None:
        self.kind = kind
        self._entries = dict(entries)
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> str:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, name: str) -> str:
        """Return ``name`` if registered, else raise :class:`UnknownNameError` with suggestions."""
        if name not in self._entries:
            raise UnknownNameError(self.kind, name, list(self._entries))
        return name

    def load(self, name: str) -> Any:
        """Import and return the attribute registered under ``name``."""
        self.check(name)
        if name not in self._loaded:
            module_name, _, attribute = self._entries[name].partition(":")
            module = importlib.import_module(module_name)
            self._loaded[name] = getattr(module, attribute)
        return self._loaded[name]

"""Name → implementation registries with lazy imports.

Each entry is a ``"module:Attribute"`` string, so a backend's heavy runtime (TensorRT,
OpenVINO) is imported only when a run asks for that backend. A registry knows the base class of
what it holds (``Registry[Backend]``): what it loads is checked to be a subclass, and typed so.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


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


class Registry(Mapping[str, str], Generic[T]):
    """A read-only mapping of names to ``"module:Attribute"`` targets, resolved on demand.

    ``base`` is the class every entry must subclass: the class itself, or a ``"module:Class"``
    string where importing it here would pull a stage into a module below it (the task catalog
    names grader.harness's Task this way); a string base is imported with the first entry.
    """

    def __init__(self, kind: str, base: type[T] | str, entries: Mapping[str, str]) -> None:
        self.kind = kind
        self._base = base
        self._entries = dict(entries)
        self._loaded: dict[str, type[T]] = {}

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

    def load(self, name: str) -> type[T]:
        """Import and return the class registered under ``name``; TypeError (a bug of ours) when
        it is not a subclass of the registry's base."""
        self.check(name)
        if name not in self._loaded:
            loaded = _import_target(self._entries[name])
            base = self.base()
            if not (isinstance(loaded, type) and issubclass(loaded, base)):
                target = self._entries[name]
                raise TypeError(f"the {self.kind} {name!r} ({target}) is not a {base.__qualname__}")
            self._loaded[name] = loaded
        return self._loaded[name]

    def base(self) -> type[T]:
        """The class every entry subclasses (imported now if it was named by a string)."""
        if isinstance(self._base, str):
            self._base = cast("type[T]", _import_target(self._base))
        return self._base


def _import_target(target: str) -> Any:
    """The attribute a ``"module:Attribute"`` string names."""
    module_name, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)

"""Versioned JSON documents that the stages exchange.

Every stage writes one document and the next stage reads it, so each stage runs alone from the
CLI and tests can start anywhere. A document says what it is (`kind`) and which version of its
schema it follows (`schema_version`); reading the wrong kind or a newer version is a located,
explained error, not a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from grader.errors import InputError
from grader.findings import Finding, Location


class Document(BaseModel):
    """Base of every stage document."""

    model_config = ConfigDict(extra="forbid")

    KIND: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1
    PRODUCER: ClassVar[str] = ""  # the command that writes this document, for error hints
    # Older schema versions this class still reads: their fields are a subset of the current
    # ones (new fields have defaults), so `upgrade` only restamps them unless a class says more.
    READS: ClassVar[frozenset[int]] = frozenset()

    # Stamped by _stamp before validation; the defaults only tell a type checker that a caller
    # constructing a document need not pass them.
    kind: str = ""
    schema_version: int = 0

    @model_validator(mode="before")
    @classmethod
    def _stamp(cls, data: Any) -> Any:
        """New documents get their kind and version; read ones are checked in from_data."""
        if isinstance(data, dict):
            data = {"kind": cls.KIND, "schema_version": cls.VERSION, **data}
        return data

    def to_json(self) -> str:
        return self.model_dump_json(indent=2) + "\n"

    def write(self, path: Path) -> Path:
        from grader.atomic import write_atomic

        return write_atomic(path, self.to_json())  # a crash or a second writer never leaves half a document

    @classmethod
    def read(cls, path: Path) -> Self:
        """Load a document of this kind from ``path``; any problem is an InputError."""
        name = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError([_problem(name, "the file does not exist", cls._producer_hint())]) from None
        except json.JSONDecodeError as error:
            raise InputError(
                [
                    Finding(
                        code="D001",
                        location=Location(file=name, line=error.lineno, column=error.colno),
                        message=f"not valid JSON: {error.msg}",
                        expected=f"a {cls.KIND} document",
                        hint=cls._producer_hint(),
                    )
                ]
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise InputError([_problem(name, str(error), "check the path")]) from None
        return cls.from_data(data, name)

    @classmethod
    def upgrade(cls, data: dict[str, Any], version: int) -> dict[str, Any]:
        """A document of an older version in ``READS``, as the current version."""
        return {**data, "schema_version": cls.VERSION}

    @classmethod
    def from_data(cls, data: object, name: str = "<document>") -> Self:
        if not isinstance(data, dict):
            raise InputError([_problem(name, "the JSON is not an object", cls._producer_hint())])
        kind = data.get("kind")
        if kind != cls.KIND:
            raise InputError(
                [
                    Finding(
                        code="D002",
                        location=Location(file=name, field="kind"),
                        message=f"this is a {kind or 'unknown'} document, not a {cls.KIND} document",
                        expected=f"kind: {cls.KIND}",
                        found=f"kind: {kind}",
                        hint=cls._producer_hint(),
                    )
                ]
            )
        version = data.get("schema_version")
        if isinstance(version, int) and version in cls.READS:
            data = cls.upgrade(dict(data), version)
            version = data["schema_version"]
        if version != cls.VERSION:
            raise InputError(
                [
                    Finding(
                        code="D003",
                        location=Location(file=name, field="schema_version"),
                        message=f"unsupported {cls.KIND} schema version {version}",
                        expected=f"schema_version: {cls.VERSION}",
                        found=f"schema_version: {version}",
                        hint="produce the file again with this version of the grader",
                    )
                ]
            )
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            raise InputError(
                [
                    Finding(
                        code="D004",
                        location=Location(file=name, field=".".join(str(p) for p in item["loc"])),
                        message=item["msg"],
                        expected=f"a {cls.KIND} document as `{cls.PRODUCER}` writes it",
                        found=repr(item.get("input"))[:120],
                        hint="do not edit stage files by hand; " + cls._producer_hint(),
                    )
                    for item in error.errors(include_url=False)[:20]
                ]
            ) from None

    @classmethod
    def _producer_hint(cls) -> str:
        return f"this file is written by `{cls.PRODUCER}`" if cls.PRODUCER else "produce it with the grader"


def _problem(file: str, found: str, hint: str) -> Finding:
    return Finding(
        code="D001",
        location=Location(file=file),
        message="cannot read the document",
        expected="a JSON document written by the grader",
        found=found,
        hint=hint,
    )


def canonical_json(data: object) -> str:
    """Stable text for digests and golden files: sorted keys, no spaces."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

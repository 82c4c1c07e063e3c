"""Findings: what a check found, as a value.

Every check returns findings instead of raising, so one run reports every problem at once.
A finding names where (file, line, column, field), what was expected, what was found and how
to fix it. Codes are stable: documentation, tests and students' bookmarks refer to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Severity(StrEnum):
    ERROR = "error"  # the input cannot be graded as it is
    WARNING = "warning"  # graded, but something is probably not what the author meant


class Location(BaseModel):
    model_config = ConfigDict(frozen=True)

    file: str
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    field: str | None = None  # dotted path into the document, e.g. "models[0].claims.size"

    def __str__(self) -> str:
        parts = [self.file]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)


class Finding(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    severity: Severity = Severity.ERROR
    location: Location
    message: str
    expected: str = ""
    found: str = ""
    hint: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def format(self) -> str:
        """Compiler-style text: `file:line:col: CODE message`, then the details, indented."""
        lines = [f"{self.location}: {self.code} {self.severity.value}: {self.message}"]
        if self.location.field:
            lines.append(f"    field:    {self.location.field}")
        if self.expected:
            lines.append(f"    expected: {self.expected}")
        if self.found:
            lines.append(f"    found:    {self.found}")
        if self.hint:
            lines.append(f"    hint:     {self.hint}")
        return "\n".join(lines)


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.is_error for f in findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Order by file, then position, so the report reads top to bottom like the file."""
    return sorted(
        findings,
        key=lambda f: (f.location.file, f.location.line or 0, f.location.column or 0, f.code),
    )

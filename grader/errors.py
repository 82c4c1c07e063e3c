"""Errors that carry findings. The CLI prints them and exits 2; nothing else should escape."""

from __future__ import annotations

from grader.findings import Finding, sort_findings


class InputError(Exception):
    """The input could not be understood. Carries every finding, not only the first."""

    def __init__(self, findings: list[Finding]) -> None:
        self.findings = sort_findings(findings)
        super().__init__("\n".join(f.format() for f in self.findings))

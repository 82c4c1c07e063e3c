"""The course configuration (`course.yaml`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from grader.course.model import Course
from grader.errors import InputError
from grader.findings import has_errors
from grader.schema_errors import findings_from_validation_error
from grader.yamlio import load_yaml_file

__all__ = ["Course", "load_course"]


def load_course(path: Path) -> Course:
    """Read and validate ``course.yaml``; every problem comes back at once as an InputError."""
    loaded = load_yaml_file(path)
    if has_errors(loaded.findings) or loaded.data is None:
        raise InputError(loaded.findings or _empty(str(path)))
    try:
        course = Course.model_validate(loaded.data)
    except ValidationError as error:
        raise InputError(
            loaded.findings + findings_from_validation_error(error, loaded.positions, root_model=Course)
        ) from None
    if loaded.findings:  # duplicate keys: YAML kept the last one silently, the author must know
        raise InputError(loaded.findings)
    return course


def _empty(file: str) -> list:
    from grader.findings import Finding, Location

    return [
        Finding(
            code="Y003",
            location=Location(file=file),
            message="the file is empty",
            expected="the course configuration (see README: 'Configure the course')",
            hint="start from the course.yaml in this repository",
        )
    ]

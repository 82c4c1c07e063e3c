"""Submission manifest v1."""

from grader.manifest.model import MANIFEST_SCHEMA_VERSION, Artifact, Claims, ModelEntry, Submission

__all__ = ["MANIFEST_SCHEMA_VERSION", "Artifact", "Claims", "ModelEntry", "Submission"]

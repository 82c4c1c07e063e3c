"""Validation: the manifest and the PR against the course, as located findings."""

"""Compression Grader: re-measures compressed models with one harness and verifies the teams' claims."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("compression-grader")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+source"

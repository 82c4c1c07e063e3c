"""A local fake of GitHub's REST API for the grader's GitHub tests (see server.py)."""

from .server import FakeGitHub, Recorded
from .state import FakeFile, FakePull, git_blob_sha

__all__ = ["FakeFile", "FakeGitHub", "FakePull", "Recorded", "git_blob_sha"]

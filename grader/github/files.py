"""Fetching a submission's files at the PR's head commit, as data, through the API.

The privileged jobs never check out a PR. They read the folders of the manifests the PR changes
(``submissions/<team>/hw-<n>/``) from the git tree at the pinned head SHA, blob by blob, and
write plain files: no git, no checkout hooks, no symlinks (refused), no submodules (refused),
no Git LFS pointers taken for models (refused), bounded in count and size.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from grader.findings import Finding, Location
from grader.github.client import MODE_SUBMODULE, MODE_SYMLINK, GitHubClient, TreeEntry
from grader.units import MIB
from grader.validate.pr_rules import MANIFEST_NAMES, manifest_paths_in

LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"
_SAFE_PART = re.compile(r"^[^\x00-\x1f\\/:*?\"<>|]+$")
_ELSEWHERE = "publish the model on the Hugging Face Hub (`hf:` + `revision:`) or behind `url:` + `sha256:`"


@dataclass(frozen=True)
class FetchLimits:
    max_file_bytes: int = 100 * MIB  # GitHub's own blob limit
    max_total_bytes: int = 1024 * MIB
    max_files: int = 1000


@dataclass(frozen=True)
class FetchedFile:
    path: str  # repository path, e.g. submissions/team/hw-2/submission.yaml
    size: int
    sha256: str
    git_sha: str


@dataclass
class FetchResult:
    folders: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    files: list[FetchedFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "folders": self.folders,
            "manifests": self.manifests,
            "files": [asdict(f) for f in self.files],
            "findings": [f.model_dump(mode="json") for f in self.findings],
        }


def submission_folders(paths: list[str]) -> list[str]:
    """The folders of the manifests among ``paths`` (what a PR adds or changes), inside submissions/."""
    manifests = [PurePosixPath(path) for path in manifest_paths_in(paths)]
    return sorted({str(m.parent) for m in manifests if len(m.parts) >= 3 and m.parts[0] == "submissions"})


def fetch_submission(
    client: GitHubClient,
    head_sha: str,
    changed_paths: list[str],
    dest: Path,
    limits: FetchLimits = FetchLimits(),
) -> FetchResult:
    """Write the folders of the manifests among ``changed_paths``, as they are at ``head_sha``,
    under ``dest`` (same relative paths)."""
    result = FetchResult(folders=submission_folders(changed_paths))
    if not result.folders:
        return result
    entries = [e for e in client.tree(head_sha) if _inside(e.path, result.folders)]
    total = 0
    for entry in sorted(entries, key=lambda e: e.path):
        if entry.type == "tree":
            continue
        refusal = _refusal(entry, limits, total, len(result.files))
        if refusal is not None:
            result.findings.append(refusal)
            continue
        if not _safe_path(entry.path):
            result.findings.append(_finding("G003", entry.path, "the file name cannot be written safely", ""))
            continue
        content = client.blob(entry.sha)
        if content.startswith(LFS_POINTER_PREFIX):
            result.findings.append(_lfs_pointer(entry.path))
            continue
        target = dest.joinpath(*PurePosixPath(entry.path).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        total += len(content)
        result.files.append(
            FetchedFile(entry.path, len(content), hashlib.sha256(content).hexdigest(), entry.sha)
        )
        if PurePosixPath(entry.path).name in MANIFEST_NAMES:
            result.manifests.append(entry.path)
    return result


def _inside(path: str, folders: list[str]) -> bool:
    return any(path == folder or path.startswith(folder + "/") for folder in folders)


def _safe_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return all(part not in (".", "..") and _SAFE_PART.match(part) for part in parts)


def _refusal(entry: TreeEntry, limits: FetchLimits, total: int, count: int) -> Finding | None:
    if entry.mode == MODE_SYMLINK:
        return _finding(
            "G003",
            entry.path,
            "symbolic links are not read",
            "regular files inside the team folder",
            hint="commit the file itself, or point the manifest at it with `hf:` or `url:` + `sha256:`",
        )
    if entry.mode == MODE_SUBMODULE or entry.type == "commit":
        return _finding(
            "G003",
            entry.path,
            "git submodules are not read",
            "regular files inside the team folder",
            hint=_ELSEWHERE,
        )
    size = entry.size or 0
    if size > limits.max_file_bytes:
        return _finding(
            "G004",
            entry.path,
            f"the file is {size / MIB:.1f} MiB, over the {limits.max_file_bytes / MIB:.0f} MiB a file in "
            "the team folder may have",
            f"at most {limits.max_file_bytes / MIB:.0f} MiB",
            hint=_ELSEWHERE,
        )
    if total + size > limits.max_total_bytes or count >= limits.max_files:
        return _finding(
            "G004",
            entry.path,
            "the submission folder holds more than the grader reads from a PR "
            f"({limits.max_files} files, {limits.max_total_bytes / MIB:.0f} MiB)",
            "a manifest and a few small files",
            hint="keep only the submission in the folder; publish models on the Hub or behind a URL",
        )
    return None


def _lfs_pointer(path: str) -> Finding:
    return _finding(
        "G005",
        path,
        "this file is a Git LFS pointer, not the file itself",
        "the file's bytes",
        hint="the grader does not fetch LFS objects: " + _ELSEWHERE,
    )


def _finding(code: str, path: str, message: str, expected: str, *, hint: str = "") -> Finding:
    return Finding(code=code, location=Location(file=path), message=message, expected=expected, hint=hint)

"""Resolve a validated entry's artifact to local files, checked and digested.

``fetch_artifact(entry, repo_root, cache_dir)`` returns a FetchedArtifact: the folder that holds
the model's files and the sha256 of each file, or raises FetchError with the reason. Three
sources (see grader.manifest.model.Artifact):

- ``path:`` files committed in the team's folder. Validation has already checked them; they are
  checked again here because the measuring job may read a ValidatedSubmission file written
  earlier: the path must stay inside the team folder, with no symlink on the way or inside, and
  no pickle files.
- ``hf:`` + ``revision:`` (grader.fetch.hf), ``url:`` + ``sha256:`` (grader.fetch.url).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from grader.fetch.hf import HubError, fetch_hf
from grader.fetch.safety import (
    HF_ALLOW_PATTERNS,
    UnsafeArtifactError,
    check_no_code,
    check_no_pickles,
    is_inside,
    safe_relative_name,
    sha256_file,
    walk_files,
)
from grader.fetch.url import DownloadError, fetch_url
from grader.formats import format_spec
from grader.validate.document import ValidatedEntry, ValidatedSubmission

DEFAULT_MAX_BYTES = 20000 * 1024 * 1024
DEFAULT_TIMEOUT_S = 1800.0


class FetchError(Exception):
    """The artifact could not be fetched or failed a check; the message says why and the fix."""


@dataclass(frozen=True)
class FetchedArtifact:
    root: Path  # the folder that holds the model's files
    files: dict[str, str]  # path relative to root → sha256 of its bytes
    model_file: str | None = None  # single-file artifacts: which file in root is the model
    source: str = ""  # as the manifest gives it: a path, hf://owner/name@rev, a URL
    notes: list[str] = field(default_factory=list)

    @property
    def path(self) -> Path:
        """The model itself: the single file, or the folder."""
        return self.root / self.model_file if self.model_file else self.root

    @property
    def total_bytes(self) -> int:
        return sum((self.root / rel).stat().st_size for rel in self.files)


def default_cache_dir() -> Path:
    configured = os.environ.get("GRADER_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "compression-grader"


def team_root_of(validated: ValidatedSubmission, repo_root: Path) -> Path:
    """The folder `path:` artifacts must stay in: submissions/<team>/ (else the manifest's folder)."""
    manifest = (repo_root / validated.manifest_path).resolve()
    if validated.submission is not None:
        team = (repo_root / "submissions" / validated.submission.team).resolve()
        if manifest.is_relative_to(team):
            return team
    return manifest.parent


def fetch_artifact(
    entry: ValidatedEntry,
    repo_root: Path,
    cache_dir: Path,
    *,
    team_root: Path | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    hf_cache_dir: Path | None = None,
    offline: bool | None = None,
) -> FetchedArtifact:
    """The entry's model files, checked and digested; FetchError says why not.

    ``team_root`` bounds `path:` artifacts (default: the repository root).
    """
    artifact = entry.entry.artifact
    fmt = entry.entry.format
    try:
        if artifact.path is not None:
            fetched = _from_path(entry, repo_root, team_root or repo_root)
        elif artifact.hf is not None:
            folder, notes = fetch_hf(
                artifact.hf,
                artifact.revision or "",
                cache_dir,
                subfolder=artifact.subfolder,
                hf_cache_dir=hf_cache_dir,
                offline=offline,
                allow=HF_ALLOW_PATTERNS + format_spec(fmt).hub_patterns,
            )
            fetched = _digest(folder, None, artifact.describe(), notes)
        elif artifact.url is not None:
            if not artifact.url.startswith("https://"):
                raise FetchError("only https:// URLs are fetched")
            folder = fetch_url(
                artifact.url, artifact.sha256 or "", cache_dir, max_bytes=max_bytes, timeout_s=timeout_s
            )
            fetched = _from_download(folder, artifact.url)
        else:
            raise FetchError("the artifact names no source (path, hf or url)")
        _check_contents(fetched, fmt)
    except (HubError, DownloadError, UnsafeArtifactError) as error:
        raise FetchError(str(error)) from None
    except OSError as error:
        raise FetchError(f"cannot read the artifact: {error}") from None
    if fetched.total_bytes > max_bytes:
        raise FetchError(
            f"the artifact is {fetched.total_bytes:,} bytes, above the course's limit of {max_bytes:,} bytes"
        )
    return fetched


def _from_path(entry: ValidatedEntry, repo_root: Path, team_root: Path) -> FetchedArtifact:
    raw = entry.artifact_dir
    if raw is None:
        raise FetchError("the artifact path did not pass validation; fix the A-findings of `grader validate`")
    rel = safe_relative_name(raw)
    if rel is None:
        raise FetchError(f"the artifact path {raw!r} is not a plain path inside the repository")
    current = repo_root
    for part in PurePosixPath(rel).parts:  # no symlink anywhere on the way down
        current = current / part
        if current.is_symlink():
            raise FetchError(
                f"{current.relative_to(repo_root)} is a symbolic link; links are refused, not followed"
            )
        if not current.exists():
            raise FetchError(f"{current.relative_to(repo_root)} does not exist")
    target = repo_root / rel
    if not is_inside(target, team_root):
        raise FetchError(f"{rel} is outside the team's folder")
    if target.is_file():
        return _digest(target.parent, target.name, entry.entry.artifact.describe(), [])
    return _digest(target, None, entry.entry.artifact.describe(), [])


def _from_download(folder: Path, url: str) -> FetchedArtifact:
    entries = [p for p in folder.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        folder = entries[0]  # an archive of one folder: the folder is the model
    files = [p for p in folder.iterdir()]
    if len(files) == 1 and files[0].is_file():
        return _digest(folder, files[0].name, url, [])
    return _digest(folder, None, url, [])


def _digest(root: Path, model_file: str | None, source: str, notes: list[str]) -> FetchedArtifact:
    """Digest the artifact: the whole folder, or one file plus the external data it names."""
    if model_file is None:
        paths = walk_files(root)
    else:
        paths = walk_files(root / model_file)
        paths += [root / name for name in _companions(root, model_file)]
    files = {path.relative_to(root).as_posix(): sha256_file(path) for path in sorted(set(paths))}
    if not files:
        raise FetchError("the artifact folder is empty")
    return FetchedArtifact(root=root, files=files, model_file=model_file, source=source, notes=list(notes))


def _companions(root: Path, model_file: str) -> list[str]:
    """External-data files an .onnx file names (they are part of the model)."""
    if not model_file.lower().endswith(".onnx"):
        return []
    import onnx

    from grader.onnx_graph import external_data_locations

    try:
        proto = onnx.load(str(root / model_file), load_external_data=False)
    except Exception as error:  # protobuf's DecodeError and friends
        raise FetchError(f"{model_file} is not a readable ONNX model: {error}") from None
    out = []
    for location in external_data_locations(proto):
        name = safe_relative_name(location)
        if name is None:
            raise FetchError(f"{model_file} keeps data at {location!r}, outside its folder; refused")
        path = root / name
        if path.is_symlink() or not path.is_file():
            raise FetchError(f"{model_file} needs the external data file {name}, which is missing")
        out.append(name)
    return out


def _check_contents(fetched: FetchedArtifact, fmt: str) -> None:
    names = list(fetched.files)
    check_no_code(names)
    # The format's own data is not a pickle: an IR's .bin next to its .xml; a code format's
    # archive, gated by the instructor's label (the backend) instead.
    own = format_spec(fmt).own_data(names)
    check_no_pickles([n for n in names if n not in own])
    if fetched.model_file is None:
        _check_folder_contents(fetched, fmt)


def _check_folder_contents(fetched: FetchedArtifact, fmt: str) -> None:
    """What validation checks in a `path:` artifact (JSON files, `auto_map`, quantization), for the
    `hf:` and `url:` artifacts validation could not see: refused here as the submission's fault,
    before a loader on the GPU runner fails on them."""
    from grader.findings import Location
    from grader.validate.contents import content_findings

    sizes = {rel: (fetched.root / rel).stat().st_size for rel in fetched.files}
    location = Location(file=fetched.source or str(fetched.root))
    errors = [f for f in content_findings(fetched.root, sizes, fmt, location, set()) if f.is_error]
    if errors:
        raise UnsafeArtifactError("; ".join(f"{f.code} {f.message}" for f in errors))

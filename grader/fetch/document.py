"""The `fetched-artifacts` document that `grader fetch` writes: where each artifact is, its digests.

It carries the validated submission it was fetched for and the download cache it used, so that
`grader measure fetched.json` measures exactly these files: from the same cache, with no download
(grader.harness.command), and refuses to go on if their digests changed in between.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from grader.documents import Document
from grader.fetch.artifact import FetchError, default_cache_dir, fetch_artifact, team_root_of
from grader.validate.document import ValidatedSubmission

MIB = 1024 * 1024


class FetchedItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str  # "baseline" or "models[i]"
    source: str
    ok: bool
    reason: str = ""
    root: str | None = None
    model_file: str | None = None
    files: dict[str, str] = {}  # path relative to root → sha256
    notes: list[str] = []


class FetchedArtifacts(Document):
    KIND = "fetched-artifacts"
    VERSION = 2  # 2: the validated submission and the cache folder, for `grader measure`
    PRODUCER = "grader fetch"

    manifest_path: str
    submission: ValidatedSubmission  # what was fetched: the next stage measures it
    cache_dir: str  # the download cache the artifacts are in (absolute)
    artifacts: list[FetchedItem]

    def item(self, key: str) -> FetchedItem | None:
        return next((item for item in self.artifacts if item.key == key), None)


def fetch_all(
    validated: ValidatedSubmission, repo_root: Path, cache_dir: Path | None = None, *, max_mib: int = 20000
) -> FetchedArtifacts:
    """Fetch every entry; a failure is recorded with its reason and the others go on."""
    cache = cache_dir or default_cache_dir()
    team_root = team_root_of(validated, repo_root.resolve())
    items = []
    for entry in validated.entries:
        source = entry.entry.artifact.describe()
        try:
            fetched = fetch_artifact(
                entry, repo_root.resolve(), cache, team_root=team_root, max_bytes=max_mib * MIB
            )
        except FetchError as error:
            items.append(FetchedItem(key=entry.key, source=source, ok=False, reason=str(error)))
            continue
        items.append(
            FetchedItem(
                key=entry.key,
                source=source,
                ok=True,
                root=str(fetched.root),
                model_file=fetched.model_file,
                files=fetched.files,
                notes=fetched.notes,
            )
        )
    return FetchedArtifacts(
        manifest_path=validated.manifest_path,
        submission=validated,
        cache_dir=str(cache.resolve()),
        artifacts=items,
    )

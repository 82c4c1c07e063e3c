"""`hf:` + `revision:` artifacts: a Hugging Face model repo at a pinned 40-hex commit.

Files come through huggingface_hub.snapshot_download, restricted to weights, configs and
tokenizer files (never pickles). Offline (HF_HUB_OFFLINE=1, the runner's normal state) the
snapshot must already be in the hub cache; then snapshot_download returns the whole cached
snapshot, so the same allow-list is applied again here. The allowed files are staged into a
clean folder of our own (hard links, or copies across file systems), so the backends and the
size analysis see exactly the files that were allowed and digested, and no cache symlinks.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
from pathlib import Path

from grader.fetch.safety import HF_ALLOW_PATTERNS, is_inside, safe_relative_name


class HubError(Exception):
    """The snapshot could not be obtained; the message says why and what to do."""


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def allowed(rel: str, patterns: tuple[str, ...] = HF_ALLOW_PATTERNS) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def fetch_hf(
    repo: str,
    revision: str,
    cache_dir: Path,
    *,
    subfolder: str | None = None,
    hf_cache_dir: Path | None = None,
    offline: bool | None = None,
    allow: tuple[str, ...] = HF_ALLOW_PATTERNS,
) -> tuple[Path, list[str]]:
    """(a staged folder holding the allowed files of ``repo``@``revision``[/subfolder], notes).

    ``allow``: the file name patterns to download, HF_ALLOW_PATTERNS and what the format needs
    beyond them (FormatSpec.hub_patterns: an OpenVINO IR's .bin)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = hub_offline() if offline is None else offline
    prefix = ""
    if subfolder:
        clean = safe_relative_name(subfolder)
        if clean is None:
            raise HubError(f"subfolder {subfolder!r} is not a plain relative path")
        prefix = clean + "/"
    patterns = [prefix + p for p in allow]  # hub patterns: `*` also matches `/`
    try:
        snapshot = Path(
            snapshot_download(
                repo,
                revision=revision,
                cache_dir=str(hf_cache_dir) if hf_cache_dir else None,
                allow_patterns=patterns,
                local_files_only=offline,
            )
        )
    except LocalEntryNotFoundError:
        raise HubError(
            f"{repo} at revision {revision[:12]} is not in the runner's Hugging Face cache"
            + (" and the runner is offline" if offline else " and could not be downloaded")
            + f"; instructors can pre-fetch it with `hf download {repo} --revision {revision}`"
        ) from None
    except RevisionNotFoundError:
        raise HubError(
            f"{repo} has no revision {revision}; copy the full commit id from the repo's history"
        ) from None
    except GatedRepoError:
        raise HubError(f"{repo} is gated; make it public so the grader can read it") from None
    except RepositoryNotFoundError:
        raise HubError(f"no Hugging Face model repo {repo!r} (or it is private); check the name") from None
    except (HfHubHTTPError, OSError, ValueError) as error:
        raise HubError(f"cannot fetch {repo}@{revision[:12]}: {error}") from None
    source = snapshot / prefix if prefix else snapshot
    if not source.is_dir():
        raise HubError(f"{repo}@{revision[:12]} has no folder {subfolder!r}")
    return _stage(
        source, snapshot, cache_dir / "hf" / repo.replace("/", "--") / revision / (prefix or "_root"), allow
    )


def _stage(source: Path, snapshot: Path, staged: Path, allow: tuple[str, ...]) -> tuple[Path, list[str]]:
    """Hard-link (or copy) the allowed files of ``source`` into ``staged``; list what was left out."""
    if staged.exists():
        shutil.rmtree(staged)
    staged.mkdir(parents=True)
    # The cache's blobs live two levels above the snapshot folder: models--x--y/{blobs,snapshots/<rev>}.
    repo_cache = snapshot.parent.parent
    skipped: list[str] = []
    for folder, _dirs, files in os.walk(source):
        for name in files:
            path = Path(folder) / name
            rel = path.relative_to(source).as_posix()
            if rel.startswith((".cache/", ".git/")):
                continue
            if not allowed(rel, allow):
                skipped.append(rel)
                continue
            real = path.resolve()
            if not is_inside(real, repo_cache) or not real.is_file():
                raise HubError(f"{rel} in the cached snapshot points outside the repo's cache; refused")
            target = staged / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(real, target)
            except OSError:
                shutil.copyfile(real, target)
    notes = []
    if skipped:
        shown = ", ".join(sorted(skipped)[:5]) + (" ..." if len(skipped) > 5 else "")
        notes.append(f"left out {len(skipped)} file(s) that are not weights, configs or tokenizers: {shown}")
    if not any(staged.rglob("*")):
        raise HubError("the snapshot holds no weights, configs or tokenizer files")
    return staged, notes

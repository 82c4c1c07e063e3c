"""`url:` + `sha256:` artifacts: download with a size limit and a deadline, check the digest
before anything reads the file, and unpack .zip / .tar archives without trusting them.

An archive member is written only if its name is a clean relative path (no absolute path, no
`..`), it is a regular file or folder (no symlinks, hard links or devices), and the members
together stay under the size limit (a zip bomb stops at the limit, not at the disk's end).
Extraction copies member bytes into files we create; the archive libraries never write to disk.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import unquote, urlsplit

from grader.fetch.safety import CHUNK, safe_relative_name

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
COMPLETE_MARKER = ".grader-complete.json"
# The unpack budget of its own: model weights barely compress (even pruned ones rarely pass
# 10×), while a zip bomb expands a thousandfold. An archive may unpack to UNPACK_RATIO times its
# size (at least UNPACK_FLOOR_BYTES, at most the artifact limit) into at most MAX_MEMBERS files;
# the declared sizes are checked before a byte is written, the real ones while writing.
UNPACK_RATIO = 40
UNPACK_FLOOR_BYTES = 16 * 2**20
MAX_MEMBERS = 10_000
USER_AGENT = "compression-grader (+https://github.com)"


class DownloadError(Exception):
    """The download or the unpacking failed; the message says why and what to do."""


def file_name_of(url: str) -> str:
    """The last path segment of the URL, as a safe file name (default `artifact`)."""
    name = unquote(PurePosixPath(urlsplit(url).path).name)
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).strip("._")
    return cleaned or "artifact"


def is_archive(name: str) -> bool:
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def download(url: str, dest: Path, *, sha256: str, max_bytes: int, timeout_s: float) -> int:
    """Stream ``url`` into ``dest``; raise DownloadError unless it is ≤ max_bytes and has ``sha256``."""
    deadline = time.monotonic() + timeout_s
    digest = hashlib.sha256()
    written = 0
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=min(timeout_s, 60)) as response, dest.open("wb") as out:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise DownloadError(
                    f"the server says the file is {int(declared):,} bytes, "
                    f"above the limit of {max_bytes:,} bytes"
                )
            while chunk := response.read(CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise DownloadError(f"the download passed the limit of {max_bytes:,} bytes; stopped")
                if time.monotonic() > deadline:
                    raise DownloadError(f"the download took longer than {timeout_s:g} s; stopped")
                digest.update(chunk)
                out.write(chunk)
    except DownloadError:
        dest.unlink(missing_ok=True)
        raise
    except urllib.error.HTTPError as error:
        dest.unlink(missing_ok=True)
        raise DownloadError(f"the server answered HTTP {error.code} {error.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        dest.unlink(missing_ok=True)
        reason = getattr(error, "reason", error)
        raise DownloadError(f"cannot download: {reason}") from None
    found = digest.hexdigest()
    if found != sha256.lower():
        dest.unlink(missing_ok=True)
        raise DownloadError(
            f"the downloaded file's sha256 is {found}, not the {sha256.lower()} the manifest pins; "
            "the file changed after you measured it, or the digest is mistyped (`sha256sum FILE`)"
        )
    return written


def unpack_budget(archive_bytes: int, max_bytes: int) -> int:
    return min(max_bytes, max(UNPACK_FLOOR_BYTES, UNPACK_RATIO * archive_bytes))


def unpack(archive: Path, dest: Path, *, max_bytes: int) -> None:
    """Extract ``archive`` into ``dest`` (which must exist), member by member, refusing tricks."""
    name = archive.name.lower()
    budget = unpack_budget(archive.stat().st_size, max_bytes)
    try:
        if name.endswith(".zip"):
            _unpack_zip(archive, dest, budget)
        else:
            _unpack_tar(archive, dest, budget)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError) as error:
        raise DownloadError(f"{archive.name} is not a readable archive: {error}") from None


def _target(dest: Path, raw_name: str) -> Path:
    name = safe_relative_name(raw_name)
    if name is None:
        raise DownloadError(
            f"the archive member {raw_name!r} has an absolute path or climbs out with `..`; refused"
        )
    return dest / name


def _check_declared(sizes: list[int], budget: int) -> None:
    """Refuse before extracting: too many members, or more bytes declared than the budget allows
    (zipfile never hands out more than a member's declared size; tar sizes are exact)."""
    if len(sizes) > MAX_MEMBERS:
        raise DownloadError(f"the archive holds {len(sizes):,} files, more than {MAX_MEMBERS:,}; refused")
    declared = sum(sizes)
    if declared > budget:
        raise DownloadError(
            f"the archive would unpack to {declared:,} bytes, more than its budget of {budget:,} "
            f"({UNPACK_RATIO}× its size, within the artifact limit); refused"
        )


def _copy_member(source: IO[bytes], target: Path, budget: list[int]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise DownloadError(f"the archive holds {target.name} twice; refused")
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise DownloadError("the unpacked archive passes the size limit; refused")
            out.write(chunk)


def _unpack_zip(archive: Path, dest: Path, max_bytes: int) -> None:
    budget = [max_bytes]
    with zipfile.ZipFile(archive) as zf:
        _check_declared([info.file_size for info in zf.infolist()], max_bytes)
        for info in zf.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise DownloadError(f"the archive member {info.filename!r} is a symbolic link; refused")
            target = _target(dest, info.filename)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            with zf.open(info) as source:
                _copy_member(source, target, budget)


def _unpack_tar(archive: Path, dest: Path, max_bytes: int) -> None:
    budget = [max_bytes]
    with tarfile.open(archive, mode="r:*") as tf:
        # Listing a compressed tar decompresses it once, in bounded memory (members are headers).
        members = tf.getmembers()
        _check_declared([m.size for m in members if m.isfile()], max_bytes)
        for member in members:
            if member.issym() or member.islnk():
                raise DownloadError(f"the archive member {member.name!r} is a link; refused")
            if not (member.isfile() or member.isdir()):
                raise DownloadError(f"the archive member {member.name!r} is not a regular file; refused")
            target = _target(dest, member.name)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            source = tf.extractfile(member)
            if source is None:
                raise DownloadError(f"cannot read the archive member {member.name!r}")
            with source:
                _copy_member(source, target, budget)


def fetch_url(url: str, sha256: str, cache_dir: Path, *, max_bytes: int, timeout_s: float) -> Path:
    """The folder holding the artifact from ``url`` (downloaded and unpacked once per digest).

    The cache is keyed by the digest, so a cached folder is the file the manifest pins. A
    single-file artifact is the only file in the returned folder.
    """
    sha256 = sha256.lower()
    folder = cache_dir / "url" / sha256
    files = folder / "files"
    if (folder / COMPLETE_MARKER).is_file() and files.is_dir():
        return files
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted earlier attempt
    folder.mkdir(parents=True)
    name = file_name_of(url)
    try:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            downloaded = Path(tmp) / name
            size = download(url, downloaded, sha256=sha256, max_bytes=max_bytes, timeout_s=timeout_s)
            files.mkdir()
            if is_archive(name):
                unpack(downloaded, files, max_bytes=max_bytes)
            else:
                shutil.move(str(downloaded), files / name)
    except DownloadError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    (folder / COMPLETE_MARKER).write_text(
        json.dumps({"url": url, "sha256": sha256, "bytes": size}), encoding="utf-8"
    )
    return files

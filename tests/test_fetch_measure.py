"""`grader validate` → `grader fetch` → `grader measure fetched.json`: the fetch stage's own output is
measured, from the files it fetched (nothing is downloaded twice), and a fetched.json whose files
changed or vanished is refused with D005 instead of measuring something else.

The compressed model is a URL artifact (a .zip of the checkpoint, pinned by sha256) served by a
stand-in for the downloader that counts its calls; the baseline is a folder in the team's folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml
from harness_support import course, make_bert, team_dir, write_reviews
from typer.testing import CliRunner

from grader.cli import app
from grader.fetch import url as url_module
from grader.fetch.document import FetchedArtifacts
from grader.harness.models import MeasurementRun, Status

URL = "https://models.example.org/bert-int8.zip"

MANIFEST = """\
schema_version: 1
team: team
homework: 2
task: text-classification
baseline:
  name: base
  artifact: {{path: base/}}
models:
  - name: int8
    method: quantization
    transform: dynamic-int8
    artifact: {{url: "{url}", sha256: {sha256}}}
"""


class Downloads:
    """Stands in for grader.fetch.url.download: serves one archive, checks its digest, counts."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload
        self.calls = 0

    def __call__(self, url: str, dest: Path, *, sha256: str, max_bytes: int, timeout_s: float) -> int:
        self.calls += 1
        assert url == URL and hashlib.sha256(self.payload).hexdigest() == sha256
        dest.write_bytes(self.payload)
        return len(self.payload)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write_reviews(root)
    settings = course().model_dump(mode="json")
    (root / "course.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), encoding="utf-8")
    make_bert(team_dir(root) / "base")
    return root


@pytest.fixture
def downloads(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Downloads:
    archive = tmp_path / "bert-int8.zip"
    with zipfile.ZipFile(archive, "w") as packed:
        for file in sorted((team_dir(repo) / "base").iterdir()):
            packed.write(file, f"bert/{file.name}")
    served = Downloads(archive.read_bytes())
    monkeypatch.setattr(url_module, "download", served)
    manifest = MANIFEST.format(url=URL, sha256=hashlib.sha256(served.payload).hexdigest())
    (team_dir(repo) / "submission.yaml").write_text(manifest, encoding="utf-8")
    return served


def cli(repo: Path, *args: str):
    result = CliRunner().invoke(app, [*args, "--course", str(repo / "course.yaml")])
    assert "Traceback" not in result.output
    return result


def validate_and_fetch(repo: Path, out: Path) -> Path:
    manifest = team_dir(repo) / "submission.yaml"
    validated = cli(repo, "validate", str(manifest), "--out", str(out / "validated.json"))
    assert validated.exit_code == 0, validated.output
    fetched = out / "fetched.json"
    result = cli(
        repo, "fetch", str(out / "validated.json"), "--out", str(fetched), "--cache", str(out / "cache")
    )
    assert result.exit_code == 0, result.output
    return fetched


def measure(repo: Path, document: Path, out: Path):
    args = ["measure", str(document), "--repo", str(repo), "--out", str(out), "--quiet", "--devices", "cpu"]
    return cli(repo, *args)


@pytest.mark.slow
def test_measure_takes_fetched_json_and_measures_the_fetched_files(
    repo: Path, tmp_path: Path, downloads: Downloads
) -> None:
    fetched_file = validate_and_fetch(repo, tmp_path)
    assert downloads.calls == 1
    fetched = FetchedArtifacts.read(fetched_file)
    assert fetched.submission.ok and fetched.cache_dir == str((tmp_path / "cache").resolve())
    offline_before = os.environ.get("HF_HUB_OFFLINE")

    result = measure(repo, fetched_file, tmp_path / "measurement.json")
    assert result.exit_code == 0, result.output
    assert downloads.calls == 1  # the cached download was measured, not fetched again
    assert os.environ.get("HF_HUB_OFFLINE") == offline_before  # the offline switch was undone
    run = MeasurementRun.read(tmp_path / "measurement.json")
    assert run.submission.manifest_path == fetched.manifest_path
    for model in run.models:
        item = fetched.item(model.key)
        assert item is not None and item.ok
        assert model.status is Status.OK, model.reason
        assert model.artifact_digests == item.files  # byte for byte what `grader fetch` digested
    assert {m.key for m in run.models} == {"baseline", "models[0]"}


def only_the_download(fetched: FetchedArtifacts) -> FetchedArtifacts:
    """The document with the baseline left out: one model measures faster."""
    submission = fetched.submission.model_copy(
        update={"entries": [e for e in fetched.submission.entries if e.key != "baseline"]}
    )
    artifacts = [item for item in fetched.artifacts if item.key != "baseline"]
    return fetched.model_copy(update={"submission": submission, "artifacts": artifacts})


@pytest.mark.slow
def test_files_that_changed_since_the_fetch_are_refused(
    repo: Path, tmp_path: Path, downloads: Downloads
) -> None:
    fetched = only_the_download(FetchedArtifacts.read(validate_and_fetch(repo, tmp_path)))
    item = fetched.artifacts[0]
    # What the fetch recorded is no longer what is there: the digest it wrote for config.json differs.
    item.files = {**item.files, "config.json": "0" * 64}
    stale = fetched.write(tmp_path / "stale.json")
    result = measure(repo, stale, tmp_path / "measurement.json")
    assert result.exit_code == 2, result.output
    assert "D005" in result.output and "config.json changed since it was fetched" in result.output
    assert not (tmp_path / "measurement.json").exists()
    assert downloads.calls == 1


def test_a_fetched_folder_that_is_gone_is_refused_before_measuring(
    repo: Path, tmp_path: Path, downloads: Downloads
) -> None:
    fetched_file = validate_and_fetch(repo, tmp_path)
    shutil.rmtree(tmp_path / "cache")
    result = measure(repo, fetched_file, tmp_path / "measurement.json")
    assert result.exit_code == 2, result.output
    assert "D005" in result.output and "is gone" in result.output and "grader fetch" in result.output
    assert downloads.calls == 1  # not downloaded again behind the student's back


def test_a_fetched_json_of_the_old_version_says_to_fetch_again(repo: Path, tmp_path: Path) -> None:
    old = {"kind": "fetched-artifacts", "schema_version": 1, "manifest_path": "x", "artifacts": []}
    path = tmp_path / "fetched.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    result = measure(repo, path, tmp_path / "measurement.json")
    assert result.exit_code == 2, result.output
    assert "D003" in result.output and "schema_version: 2" in result.output

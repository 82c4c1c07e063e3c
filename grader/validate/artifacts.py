"""Artifacts (A-codes): where a model's files are, and whether the grader may read them.

A `path:` artifact is checked on disk: it stays inside the team's folder, exists, has no
symlinks anywhere (they are refused, never followed), holds no pickle-based files and no
prebuilt TensorRT engines, has the layout its format needs (grader.formats: each format's
`layout`), and fits the course's size limit.
Files are only stat-ed and their headers read; nothing is loaded or executed. `hf:` and `url:`
artifacts are fetched later (grader.fetch): here only their form is checked.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from grader.file_kinds import ENGINE_SUFFIXES, PICKLE_SUFFIXES, is_lfs_pointer
from grader.findings import Finding, Location
from grader.formats import find_spec
from grader.formats.base import Listing
from grader.formats.onnx import split_graphs
from grader.formats.safetensors import SAVE_HINT
from grader.manifest.model import Artifact
from grader.onnx_graph import ORT_DOMAINS, custom_ops, external_data_locations
from grader.onnx_graph import nodes as onnx_nodes
from grader.units import human_bytes, human_mib
from grader.validate.contents import content_findings
from grader.validate.detection import detection_graph_findings
from grader.validate.input_roles import graph_input_findings
from grader.validate.onnx_loops import MAX_LOOP_TRIPS, endless_loops
from grader.validate.read import Entry
from grader.validate.rules import ManifestPlace, did_you_mean, first_link
from grader.yamlio import PathKey, PositionMap

_ONNX_PARSE_MAX_BYTES = 256 * 2**20
_HF_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94})/[A-Za-z0-9](?:[A-Za-z0-9._-]{0,95})")


@dataclass
class Scan:
    """What is on disk at an artifact path, without following any symlink."""

    root: Path  # the artifact folder (for a single-file artifact: the file's folder)
    files: dict[str, int] = field(default_factory=dict)  # path relative to root → bytes
    symlinks: list[str] = field(default_factory=list)
    specials: list[str] = field(default_factory=list)  # fifos, devices, sockets

    @property
    def total_bytes(self) -> int:
        return sum(self.files.values())


@dataclass
class PathResult:
    target: Path | None  # the artifact on disk, when it is inside the team folder and reachable
    findings: list[Finding]


class ArtifactChecker:
    """Checks every entry's artifact; an ONNX graph shared by several entries is parsed once."""

    def __init__(
        self, place: ManifestPlace, positions: PositionMap, max_bytes: int, task: str | None = None
    ) -> None:
        self.place = place
        self.positions = positions
        self.max_bytes = max_bytes
        self.task = task  # the manifest's task, when the course grades it: ONNX inputs are checked
        self._onnx: dict[Path, tuple[Any, str | None]] = {}
        # the `inputs:` mapping of the entry being checked, and where it stands (grader.validate.input_roles)
        self._inputs: tuple[dict[str, str], PathKey | None] = ({}, None)

    def check(self, entry: Entry) -> tuple[str | None, list[Finding]]:
        """(artifact path relative to the repository root for `path:` artifacts, findings)."""
        artifact: Artifact | None = entry.part.get("artifact")
        self._inputs = (entry.part.get("inputs") or {}, entry.part.path_of("inputs"))
        if artifact is None:
            return None, []
        base = entry.part.path_of("artifact")
        if artifact.hf:
            return None, self._check_hf(artifact, base)
        if artifact.url:
            return None, self._check_url(artifact.url, base)
        location = self.positions.location((*base, "path"))
        fmt = _format_of(entry)
        result = self.check_path(artifact.path or "", fmt, location)
        return (self.place.to_repo(result.target) if result.target else None), result.findings

    # --- path artifacts ----------------------------------------------------------------------

    def check_path(self, raw: str, fmt: str | None, location: Location) -> PathResult:
        problem = _path_form_problem(raw)
        if problem:
            return PathResult(None, [_a001(location, raw, problem, self.place)])
        target = Path(os.path.normpath(self.place.path.parent / raw))
        root = self.place.team_root
        if not _inside(target, root):
            return PathResult(
                None,
                [_a001(location, raw, f"it points outside {self.place.to_repo(root)}/", self.place)],
            )
        findings = self._walk_down(target, raw, location)
        if findings:
            return PathResult(None, findings)
        scan = _scan(target, fmt)
        findings += _scan_findings(scan, fmt, location)
        if findings and not target.is_dir():
            return PathResult(target, findings)  # a refused single file: its layout is beside the point
        layout, model_file = _layout(target, scan, fmt, location, raw)
        findings += layout
        if target.is_dir():  # a single file has no configs or code beside it that a loader reads
            findings += content_findings(scan.root, scan.files, fmt, location, _pointers(scan))
        extra_bytes = 0
        spec = find_spec(fmt)
        graphs = (split_graphs(target) or [model_file]) if model_file is not None else []
        for graph in graphs:  # a split encoder-decoder export: every graph it runs
            if spec is not None and spec.onnx_graph and _worth_parsing(graph):
                onnx_findings, graph_extra = self._check_onnx(graph, target, location)
                findings += onnx_findings
                extra_bytes += graph_extra
        total = scan.total_bytes + extra_bytes
        if total > self.max_bytes:
            findings.append(
                Finding(
                    code="A007",
                    location=location,
                    message=f"the artifact is {human_mib(total)}, above the course's limit",
                    expected=f"at most {human_mib(self.max_bytes)} "
                    "(course.yaml: runner.limits.artifact_max_mib)",
                    found=f"{human_bytes(total)} in {len(scan.files)} file(s)",
                    hint="publish large models on the Hugging Face Hub and use `hf:` with `revision:`",
                )
            )
        return PathResult(target, findings)

    def _walk_down(self, target: Path, raw: str, location: Location) -> list[Finding]:
        """Every folder from the repository (or team) root down to ``target``: present, no symlinks."""
        top = self.place.repo_root if _inside(target, self.place.repo_root) else self.place.team_root
        current = top
        for part in target.relative_to(top).parts:
            parent, current = current, current / part
            try:
                mode = os.lstat(current).st_mode
            except (FileNotFoundError, NotADirectoryError):
                return [self._missing(current, parent, raw, location)]
            if stat.S_ISLNK(mode):
                return [_a003(location, [self.place.to_repo(current)], symlink=True)]
        return []

    def _missing(self, missing: Path, parent: Path, raw: str, location: Location) -> Finding:
        try:
            siblings = sorted(p.name for p in parent.iterdir())
        except OSError:
            siblings = []
        return Finding(
            code="A002",
            location=location,
            message=f"{self.place.to_repo(missing)} does not exist",
            expected="a file or folder relative to the manifest's folder, committed in the PR",
            found=raw,
            hint=did_you_mean(missing.name, siblings)
            + (f"{self.place.to_repo(parent)}/ holds: {', '.join(siblings[:12])}" if siblings else "")
            + ("; " if siblings else "")
            + "paths are relative to the folder of submission.yaml; check that the files are committed "
            "(not ignored by .gitignore)",
        )

    def _check_onnx(self, model_file: Path, target: Path, location: Location) -> tuple[list[Finding], int]:
        """Parse the graph (not the weights) and check its external data and operator domains."""
        if model_file not in self._onnx:
            self._onnx[model_file] = _load_onnx_graph(model_file)
        model, error = self._onnx[model_file]
        if model is None:
            return [
                Finding(
                    code="A005",
                    location=location,
                    message=f"{model_file.name} is not a readable ONNX model",
                    expected="an .onnx file written by torch.onnx.export or optimum",
                    found=error or "",
                    hint="export the model again and check it with `onnx.checker.check_model`",
                )
            ], 0
        findings: list[Finding] = []
        extra = 0
        folder = model_file.parent
        for name in sorted(_external_locations(model)):
            data = Path(os.path.normpath(folder / name))
            if Path(name).is_absolute() or not _inside(data, folder):
                findings.append(_a012(location, name, "it points outside the model's folder"))
                continue
            link = first_link(folder, data)
            if link is not None:
                findings.append(_a003(location, [self.place.to_repo(link)], symlink=True))
            elif not data.is_file():
                findings.append(_a012(location, name, "the file is missing"))
            elif target.is_file():  # a folder artifact's scan already counted it
                extra += os.lstat(data).st_size
        if not findings:  # the tensors' data only once every external file is known to be safe
            findings += _onnx_tensor_findings(model, model_file, location)
        engines = sorted({n.name or n.op_type for n in onnx_nodes(model) if n.op_type == "EPContext"})
        if engines:  # the onnxruntime backend refuses them (check_domains): refused here first
            findings.append(
                Finding(
                    code="A006",
                    location=location,
                    message=f"{model_file.name} embeds precompiled engines (EPContext nodes), which the "
                    "grader never loads",
                    expected="a plain ONNX export; the runner compiles for its own hardware",
                    found=", ".join(engines[:3]),
                    hint="export the model again without `ep.context_enable` (no EPContext nodes)",
                )
            )
        if not (target.is_dir() and len(list(target.glob("*.onnx"))) > 1):  # a split export: measure's
            findings += graph_input_findings(
                model, model_file, location, self.task, *self._inputs, self.positions
            )
        findings += detection_graph_findings(model, self.task, model_file, location)
        loops = endless_loops(model)
        if loops:
            findings.append(
                Finding(
                    code="A018",
                    location=location,
                    message=f"{model_file.name} has a loop that never ends: it would hold the runner for "
                    "the whole time limit of every phase",
                    expected=f"Loop nodes with a trip count of at most {MAX_LOOP_TRIPS:,}, or a condition "
                    "their body computes",
                    found="; ".join(loops[:3]),
                    hint="export with tracing (torch.onnx.export unrolls Python loops), or give the Loop "
                    "its real trip count",
                )
            )
        domains = _custom_domains(model)
        if domains:
            findings.append(
                Finding(
                    code="A011",  # an error: the runner refuses it, so refuse it here, in seconds
                    location=location,
                    message=f"the graph uses operators from {', '.join(sorted(domains))}, "
                    "which onnxruntime does not provide",
                    expected="operators of the standard ONNX domains (ai.onnx, ai.onnx.ml, com.microsoft)",
                    found=", ".join(sorted(domains)),
                    hint="the grader never loads custom operator libraries, so this model will not run; "
                    "export with standard operators",
                )
            )
        return findings, extra

    # --- hf / url artifacts --------------------------------------------------------------------

    def _check_hf(self, artifact: Artifact, base: tuple[str | int, ...]) -> list[Finding]:
        findings = []
        repo = artifact.hf or ""
        if not _HF_REPO.fullmatch(repo) or ".." in repo:
            pasted = re.search(r"huggingface\.co/(?:models/)?([^/\s]+/[^/\s?#]+)", repo)
            findings.append(
                Finding(
                    code="A008",
                    location=self.positions.location((*base, "hf")),
                    message=f"{repo!r} is not a Hugging Face model repository id",
                    expected="owner/name, e.g. team-x/bert-int8",
                    found=repo,
                    hint=f"write `hf: {pasted.group(1)}`"
                    if pasted
                    else "write only `owner/name`, without a URL",
                )
            )
        sub = artifact.subfolder
        if sub is not None and (
            _path_form_problem(sub) or os.path.normpath(sub).startswith("..") or sub.strip() == "."
        ):
            findings.append(
                Finding(
                    code="A008",
                    location=self.positions.location((*base, "subfolder")),
                    message=f"subfolder {sub!r} is not a folder inside the repository",
                    expected="a relative folder such as `int8` or `onnx/model`",
                    found=sub,
                    hint="use / between folder names, no `..`, no leading /",
                )
            )
        return findings

    def _check_url(self, url: str, base: tuple[str | int, ...]) -> list[Finding]:
        problem = _url_problem(url)
        if problem is None:
            return []
        return [
            Finding(
                code="A009",
                location=self.positions.location((*base, "url")),
                message=f"the grader does not download from this URL: {problem}",
                expected="https://<public host name>/<file>, without a login or a port",
                found=url,
                hint="publish the file where anyone can download it (a GitHub release, the Hugging Face "
                "Hub), or use `hf:` with `revision:`",
            )
        ]


# --- helpers ---------------------------------------------------------------------------------


def _format_of(entry: Entry) -> str | None:
    """The entry's format; None when it was written but is not a valid format."""
    if entry.part.has("format"):
        return entry.part.get("format")
    return None if entry.part.written("format") else "safetensors"


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _worth_parsing(model_file: Path) -> bool:
    """An ONNX file above this size holds its weights inline (protobuf stops at 2 GB), so it has no
    external data to check, and parsing it would cost gigabytes here; the harness reads it anyway."""
    return not is_lfs_pointer(model_file) and os.lstat(model_file).st_size <= _ONNX_PARSE_MAX_BYTES


def _path_form_problem(raw: str) -> str | None:
    if not raw.strip():
        return "it is empty"
    if "\0" in raw:
        return "it contains a NUL character"
    if "\\" in raw:
        return "it uses \\ (write / between folder names)"
    if raw.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", raw):
        return "it is an absolute path (write it relative to the manifest's folder)"
    return None


def _a001(location: Location, raw: str, problem: str, place: ManifestPlace) -> Finding:
    return Finding(
        code="A001",
        location=location,
        message=f"artifact path {raw!r} is not allowed: {problem}",
        expected=f"a path inside {place.to_repo(place.team_root)}/, relative to the manifest's folder",
        found=raw,
        hint="put the model's files in your team folder next to submission.yaml, e.g. `path: model/`",
    )


def _a003(location: Location, paths: list[str], *, symlink: bool) -> Finding:
    what = "symbolic links" if symlink else "files that are not regular files or folders"
    return Finding(
        code="A003",
        location=location,
        message=f"the artifact contains {what}; the grader does not follow them",
        expected="regular files and folders only",
        found=", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else ""),
        hint="replace each link with the file itself (`cp --dereference`), or remove it",
    )


def _a012(location: Location, name: str, problem: str) -> Finding:
    return Finding(
        code="A012",
        location=location,
        message=f"the ONNX model's external data {name!r} cannot be used: {problem}",
        expected="external data files inside the model's folder, committed with it",
        found=name,
        hint="export with `save_as_external_data=True` and a relative `location`, and commit the data file",
    )


def _scan(target: Path, fmt: str | None) -> Scan:
    if not target.is_dir():
        scan = Scan(root=target.parent)
        spec = find_spec(fmt)
        names = [target.name, *(spec.companions(target.name) if spec else ())]  # an IR's .bin
        for name in names:
            _add(scan, target.parent / name, name)
        return scan
    scan = Scan(root=target)
    for folder, dirnames, filenames in os.walk(target, followlinks=False):
        for name in sorted(dirnames + filenames):
            full = Path(folder) / name
            _add(scan, full, full.relative_to(target).as_posix())
        dirnames[:] = [d for d in dirnames if not (Path(folder) / d).is_symlink()]
    return scan


def _add(scan: Scan, full: Path, rel: str) -> None:
    try:
        info = os.lstat(full)
    except FileNotFoundError:
        return  # a companion file that is not there: the layout check names it
    if stat.S_ISLNK(info.st_mode):
        scan.symlinks.append(rel)
    elif stat.S_ISREG(info.st_mode):
        scan.files[rel] = info.st_size
    elif not stat.S_ISDIR(info.st_mode):
        scan.specials.append(rel)


def _scan_findings(scan: Scan, fmt: str | None, location: Location) -> list[Finding]:
    findings = []
    if scan.symlinks:
        findings.append(_a003(location, scan.symlinks, symlink=True))
    if scan.specials:
        findings.append(_a003(location, scan.specials, symlink=False))
    pickles = _pickle_files(scan, fmt)
    if pickles:
        findings.append(
            Finding(
                code="A004",
                location=location,
                message="pickle-based files can run code when loaded; the grader refuses them",
                expected="weights in safetensors (or onnx / openvino), no .bin/.pt/.pth/.pkl/.ckpt/.joblib",
                found=", ".join(pickles[:5]) + (f" and {len(pickles) - 5} more" if len(pickles) > 5 else ""),
                hint=f"{SAVE_HINT}; remove training leftovers such as training_args.bin or optimizer.pt",
            )
        )
    engines = sorted(name for name in scan.files if Path(name).suffix.lower() in ENGINE_SUFFIXES)
    if engines:
        findings.append(
            Finding(
                code="A006",
                location=location,
                message="prebuilt TensorRT engines are refused: they can carry plugins (code) and only "
                "run on the GPU they were built for",
                expected="the .onnx model; the runner builds the TensorRT engine from it",
                found=", ".join(engines[:5]),
                hint="submit the ONNX export with `format: tensorrt`",
            )
        )
    pointers = [name for name, size in scan.files.items() if is_lfs_pointer(scan.root / name, size)]
    if pointers:
        findings.append(
            Finding(
                code="A010",
                location=location,
                message="Git LFS pointers, not the files themselves, are committed",
                expected="the model's real files",
                found=", ".join(sorted(pointers)[:5]),
                hint="the grader reads the PR's files as committed; publish large files on the Hugging Face "
                "Hub (`hf:` + `revision:`) or as a download (`url:` + `sha256:`) instead of Git LFS",
            )
        )
    return findings


def _pointers(scan: Scan) -> set[str]:
    return {name for name, size in scan.files.items() if is_lfs_pointer(scan.root / name, size)}


def _pickle_files(scan: Scan, fmt: str | None) -> list[str]:
    # The format's own data is not a pickle: an OpenVINO IR's .bin beside its .xml; a code
    # format's archive, gated by the instructor's permission instead (M010).
    spec = find_spec(fmt)
    own = spec.own_data(scan.files.keys()) if spec else frozenset()
    return [
        name
        for name in sorted(scan.files)
        if Path(name).suffix.lower() in PICKLE_SUFFIXES and name not in own
    ]


def _layout(
    target: Path, scan: Scan, fmt: str | None, location: Location, raw: str
) -> tuple[list[Finding], Path | None]:
    """Does what is on disk fit the format (its own `layout`)? Findings and the model file, when named."""
    spec = find_spec(fmt)
    if spec is None:
        return [], None
    listing = Listing(
        target=target,
        root=scan.root,
        files=scan.files,
        symlinks=scan.symlinks,
        is_dir=target.is_dir(),
        raw=raw,
        location=location,
    )
    return spec.layout(listing)


def _load_onnx_graph(path: Path) -> tuple[Any, str | None]:
    import onnx  # a protobuf parser; weights in external files are not read

    try:
        return onnx.load(str(path), load_external_data=False), None
    except Exception as error:  # protobuf raises DecodeError and friends; any of them means "unreadable"
        return None, f"{type(error).__name__}: {str(error)[:200]}"


def _onnx_tensor_findings(model: Any, model_file: Path, location: Location) -> list[Finding]:
    """The size stage's reading of every tensor (grader.harness.size_onnx): known dtypes, no negative
    dims, inline data and external ranges that hold exactly dtype × shape bytes. A 5 GB initializer
    declared over a few bytes of data is refused here, not when the runner tries to allocate it."""
    from grader.harness.size_onnx import read_onnx_proto
    from grader.harness.size_types import SizeError

    try:
        read_onnx_proto(model, model_file, model_file.name)
    except SizeError as error:
        problem = str(error).removeprefix(f"{model_file.name}: ")
        return [
            Finding(
                code="A005",
                location=location,
                message=f"{model_file.name} does not hold the tensors it declares: {problem}",
                expected="every tensor's data present, and as long as its dtype × shape",
                found=model_file.name,
                hint="export the model again (torch.onnx.export / optimum-cli export onnx) and commit "
                "every file it writes",
            )
        ]
    return []


def _external_locations(model: Any) -> set[str]:
    return {location for location in external_data_locations(model) if location}


def _custom_domains(model: Any) -> set[str]:
    return {op.partition("::")[0] for op in custom_ops(model, ORT_DOMAINS)}


def _url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        return f"it cannot be parsed ({error})"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "it has no host name"
    if parts.username or parts.password:
        return "it carries a login (user:password@)"
    if port not in (None, 443):
        return f"it uses port {port}"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return "it names an IP address instead of a host name"
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan", ".home.arpa")):
        return f"{host} is not a public host"
    if "." not in host:
        return f"{host} is not a public host name"
    return None

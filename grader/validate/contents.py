"""What is inside an artifact folder, checked the way the runner's loaders would check it (A-codes).

Everything the measuring job would refuse is refused here, on the hosted runner, in seconds:
code files (A014), `auto_map` (custom modelling code, A014), JSON that is not JSON or is nested
or sized to hurt (A013), a tokenizer.json the tokenizers library would not load (A013), and a
`quantization_config` no backend of the grader loads (A015), and, as a warning, a bitsandbytes
checkpoint that this machine's bitsandbytes cannot run (A021), and a checkpoint whose architecture
transformers builds only with a library the grader does not install (A023). Only headers and small JSON files
are read (and the installed bitsandbytes' version, from its package metadata); nothing is imported
or executed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grader.file_kinds import is_code
from grader.findings import Finding, Location, Severity
from grader.formats import find_spec
from grader.jsonio import read_json
from grader.quantization import QuantizationInfo, bitsandbytes_problem

# tokenizer.json of a large vocabulary is tens of MiB; configs are kilobytes.
JSON_MAX_BYTES = 64 * 2**20
_GPTQ_AWQ_BITS = (2, 3, 4, 8)  # the widths gptqmodel has kernels for
# model_type → the library transformers needs to build that architecture, which the grader does
# not install: timm needs torchvision, whose PyPI wheels do not load beside the runner's torch.
NEEDS_LIBRARY = {"timm_wrapper": "timm", "timm_backbone": "timm"}


def content_findings(
    root: Path, files: Mapping[str, int], fmt: str | None, location: Location, skip: set[str]
) -> list[Finding]:
    """Findings for the folder ``root`` whose regular files (relative path → bytes) are ``files``.

    ``skip``: files another check already refused (Git LFS pointers), not read again.
    """
    findings = _code_files(files, location)
    parsed: dict[str, Any] = {}
    for name in sorted(files):
        if not name.lower().endswith(".json") or name in skip:
            continue
        read = read_json(root / name, JSON_MAX_BYTES)
        if read.problem:
            findings.append(_a013(location, name, read.problem))
        else:
            parsed[name] = read.data
    findings += _auto_maps(parsed, location)
    if "config.json" in parsed and not isinstance(parsed["config.json"], dict):
        findings.append(_a013(location, "config.json", "it is not a JSON object"))
    if "tokenizer.json" in parsed:
        findings += _tokenizer(root / "tokenizer.json", parsed["tokenizer.json"], location)
    spec = find_spec(fmt)
    config = parsed.get("config.json")
    if spec is not None and spec.backend == "transformers" and isinstance(config, dict):
        findings += _missing_library(config, location)
    reads_quantization = spec is not None and spec.quantization_config
    if reads_quantization and "config.json" in files and "config.json" not in skip:
        config = parsed.get("config.json")
        if isinstance(config, dict):
            findings += _quantization(root, config, set(files), location)
    return findings


def _code_files(files: Mapping[str, int], location: Location) -> list[Finding]:
    code = sorted(name for name in files if is_code(name))
    if not code:
        return []
    return [
        Finding(
            code="A014",
            location=location,
            message="the artifact holds code files; the grader never imports, loads or runs them",
            expected="weights, configs and tokenizer files only (no .py, .so, .dll, .dylib, extensions.json)",
            found=", ".join(code[:5]) + (f" and {len(code) - 5} more" if len(code) > 5 else ""),
            hint="remove them: the grader loads architectures transformers ships, and standard ONNX "
            "operators, never custom code",
        )
    ]


def _auto_maps(parsed: Mapping[str, Any], location: Location) -> list[Finding]:
    names = sorted(name for name, data in parsed.items() if isinstance(data, dict) and data.get("auto_map"))
    if not names:
        return []
    return [
        Finding(
            code="A014",
            location=location,
            message="the checkpoint asks for custom code (`auto_map`), which the grader never runs",
            expected="a configuration of an architecture transformers ships (no `auto_map`)",
            found=", ".join(f"{name}: auto_map" for name in names),
            hint="save the model with a built-in architecture (`model.save_pretrained(folder)` of a "
            "transformers class) and remove `auto_map` and any .py files",
        )
    ]


def _tokenizer(path: Path, data: Any, location: Location) -> list[Finding]:
    """Load it with the tokenizers library (Rust, no code) when installed; else check its shape."""
    problem = None
    if not (isinstance(data, dict) and isinstance(data.get("model"), dict)):
        problem = "it is not a tokenizers file (a JSON object with a `model` object)"
    else:
        problem = _tokenizers_refuses(path)
    return [_a013(location, "tokenizer.json", problem)] if problem else []


def _tokenizers_refuses(path: Path) -> str | None:
    try:
        from tokenizers import Tokenizer
    except ImportError:  # validation without the tokenizers package: the shape check above stands
        return None
    try:
        Tokenizer.from_file(str(path))
    except Exception as error:  # the library raises plain Exception subclasses for bad files
        return f"the tokenizers library cannot load it: {str(error)[:200]}"
    return None


def _quantization(root: Path, config: dict[str, Any], files: set[str], location: Location) -> list[Finding]:
    # The transformers backend's own reading of config.json (grader.quantization, which it loads
    # by): what it would refuse on the runner is refused here. Safe to call: config.json parsed
    # above within the size and depth caps.
    from grader.quantization import SUPPORTED, bitsandbytes_version, detect_quantization

    try:
        info = detect_quantization(root)
    except ValueError as error:
        return [_a015(location, str(error), _found(config))]
    if info is None:
        return []
    if not info.supported:
        return [
            _a015(
                location,
                f"quantization method {info.method!r} is not one the grader loads",
                _found(config),
                supported=", ".join(SUPPORTED),
            )
        ]
    if info.method in ("gptq", "awq") and info.bits is not None and info.bits not in _GPTQ_AWQ_BITS:
        return [
            _a015(
                location,
                f"{info.method.upper()} with {info.bits} bits has no kernel",
                _found(config),
                supported=f"{info.method.upper()} with {', '.join(map(str, _GPTQ_AWQ_BITS))} bits",
            )
        ]
    if info.method == "bitsandbytes":
        return bitsandbytes_findings(info, location, bitsandbytes_version())
    return []


def bitsandbytes_findings(info: QuantizationInfo, location: Location, version: str | None) -> list[Finding]:
    """A021 when a machine whose bitsandbytes is ``version`` (None: not installed) cannot run ``info``.

    A warning, like M017: the files are still sized, and the machine that validates (a laptop, the
    hosted CI job) need not be the one that measures; but whoever runs `grader validate` where
    `grader measure` will run learns now that no latency, memory or quality figure would come.
    """
    problem = bitsandbytes_problem(info, version)
    if problem is None:
        return []
    return [
        Finding(
            code="A021",
            severity=Severity.WARNING,
            location=location,
            message=f"this checkpoint is not measurable here: {problem}",
            expected="bitsandbytes >= 0.46.1 where the model is measured (it runs LLM.int8 and NF4/FP4 "
            "on CPU and CUDA)",
            found=f"config.json quantization_config: {info.describe()}; bitsandbytes "
            + (version[:40] if version else "not installed"),
            hint="install bitsandbytes on the machine that measures (the `quant` extra: pip install "
            "'compression-grader[quant]'); without it only the size of the files is measured and the "
            'latency, memory and quality claims read "not measurable here"',
        )
    ]


def _found(config: dict[str, Any]) -> str:
    quant = config.get("quantization_config")
    method = quant.get("quant_method") if isinstance(quant, dict) else quant
    return f"config.json quantization_config.quant_method: {str(method)[:80]!r}"


def _missing_library(config: dict[str, Any], location: Location) -> list[Finding]:
    """A checkpoint whose architecture needs a library that is not installed would fail at load
    with an ImportError on the runner: say so here, with the way that does grade."""
    model_type = config.get("model_type")
    library = NEEDS_LIBRARY.get(model_type) if isinstance(model_type, str) else None
    if library is None or importlib.util.find_spec(library) is not None:
        return []
    return [
        Finding(
            code="A023",
            location=location,
            message=f"transformers builds `model_type: {model_type}` only with the {library} library, "
            "which the grader does not install",
            expected="an architecture transformers builds by itself",
            found=f"config.json: model_type {model_type}",
            hint="export the model to ONNX (`torch.onnx.export`) and submit it with `format: onnx`, a "
            "config.json with id2label (and num_channels) and the preprocessor_config.json beside it",
        )
    ]


def _a013(location: Location, name: str, problem: str) -> Finding:
    return Finding(
        code="A013",
        location=location,
        message=f"{name} cannot be used: {problem}",
        expected="the JSON file that save_pretrained (or the tokenizers library) writes",
        found=name,
        hint="save the model and tokenizer again with `save_pretrained(folder)`; do not edit these "
        "files by hand",
    )


def _a015(location: Location, problem: str, found: str, supported: str = "") -> Finding:
    from grader.quantization import SUPPORTED

    return Finding(
        code="A015",
        location=location,
        message=f"the checkpoint's quantization cannot be loaded by the grader: {problem}",
        expected=f"a quantization_config the grader loads ({supported or ', '.join(SUPPORTED)}), or none",
        found=found,
        hint="quantize with GPTQ or AWQ (gptqmodel), compressed-tensors or bitsandbytes (load_in_8bit / "
        "load_in_4bit, then save_pretrained), or submit an ONNX / OpenVINO export",
    )

"""Realistic measurement documents, built the way the stages build them, for verify/report tests.

Claims go through the real unit parsers (grader.units), exactly as the validate stage reads a
manifest; latency samples are real Samples with statistics computed by grader.harness.stats.
Figures follow a BERT-base sentiment classifier on a 4-thread CPU runner (and a T4 where a GPU
is present): 109.5 M parameters, 438 MB of fp32 weights, ~21 ms per text.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from grader.course.model import Course
from grader.findings import Finding, Location, Severity
from grader.harness.models import (
    DeviceMeasurement,
    DtypeShare,
    Environment,
    FileInfo,
    GpuInfo,
    LatencyResult,
    LoadResult,
    MeasurementRun,
    MemoryResult,
    ModelMeasurement,
    PhaseResult,
    QualityResult,
    RoundInfo,
    SizeReport,
    Status,
    TensorInfo,
)
from grader.harness.stats import Samples, median_interval, summarize
from grader.manifest.model import ModelEntry, Submission
from grader.units import parse_ratio, parse_score, parse_size, parse_time
from grader.validate.document import ParsedClaim, PullRequestContext, ValidatedEntry, ValidatedSubmission

MIB = 2**20

COURSE_DATA: dict[str, Any] = {
    "schema_version": 1,
    "name": {"ru": "Сжатие моделей (тест)", "en": "Model compression (test)"},
    "language": "ru",
    "repository": "aitalents/model-compression-2025",
    "runner": {"threads": {"intra_op": 4, "inter_op": 1}},
    "tolerances": {
        "size": {"rel": 0.02},
        "quality": {"abs": 0.01},
        "speedup": {"rel": 0.20},
        "memory": {"rel": 0.25},
    },
    "tasks": {"text-classification": {"dataset": "sentiment-ru", "params": {"max_length": 128}}},
    "datasets": {"sentiment-ru": {"task": "text-classification", "source": {"builtin": "sentiment-ru"}}},
    "homeworks": [
        {
            "id": 1,
            "title": {"ru": "Базовые замеры", "en": "Baseline measurements"},
            "methods": ["baseline"],
            "required": ["size", "latency_cpu", "ram", "quality"],
            "needs_baseline": False,
            "scoring": {"rule": "none"},
        },
        {
            "id": 2,
            "title": {"ru": "Квантизация и прунинг", "en": "Quantization and pruning"},
            "methods": ["quantization", "pruning"],
            "required": ["size", "latency_cpu", "ram", "quality"],
            "scoring": {"rule": "compression", "min_quality_retained": 0.95},
        },
        {
            "id": 3,
            "title": {"ru": "Кластеризация весов", "en": "Weight clustering"},
            "methods": ["clustering", "quantization"],
            "required": ["size", "quality"],
            "scoring": {"rule": "compression", "min_quality_retained": 0.95},
        },
        {
            "id": 4,
            "title": {"ru": "Дистилляция", "en": "Distillation"},
            "methods": ["distillation"],
            "required": ["size", "latency_cpu", "ram", "quality"],
            "scoring": {"rule": "pareto", "min_quality_retained": 0.90},
        },
        {
            "id": 5,
            "title": {"ru": "Экспорт", "en": "Export"},
            "methods": ["export", "quantization"],
            "required": ["size", "latency_cpu", "latency_gpu", "ram", "vram", "quality"],
            "scoring": {"rule": "speedup", "device": "cpu", "min_quality_retained": 0.98},
        },
        {
            "id": 6,
            "title": {"ru": "Качество", "en": "Quality"},
            "methods": ["quantization", "distillation"],
            "required": ["size", "quality"],
            "scoring": {"rule": "quality", "min_quality_retained": None},
        },
    ],
    "teams": {
        "ml_masters": {"members": ["ml-masters-alice", "ml-masters-bob"]},
        "compressors": {"members": ["compressors-carol", "compressors-dan"]},
        "quantum": {"members": ["quantum-eve"]},
    },
}


def make_course(**overrides: Any) -> Course:
    data = {**COURSE_DATA, **overrides}
    return Course.model_validate(data)


# --- the validated submission -------------------------------------------------------------------


def claim(metric: str, raw: str | float, line: int | None = None) -> ParsedClaim:
    """Read a claim with the same parser the validate stage uses for that metric."""
    if metric in ("size", "ram", "vram"):
        parsed = parse_size(raw)
    elif metric.startswith("latency_"):
        parsed = parse_time(raw)
    elif metric.startswith("speedup_") or metric == "compression":
        parsed = parse_ratio(raw)
    else:
        parsed = parse_score(raw, bounded=metric != "quality.perplexity")
    assert parsed.quantity is not None, (metric, raw, parsed.problems)
    q = parsed.quantity
    return ParsedClaim(metric=metric, raw=q.raw, value=q.value, unit=q.unit, per=q.per, line=line)


def entry(
    key: str,
    name: str,
    claims: dict[str, str],
    *,
    method: list[str] | None = None,
    transform: str | None = None,
    fmt: str = "safetensors",
    details: str | None = None,
    path: str | None = None,
) -> ValidatedEntry:
    raw_claims: dict[str, Any] = {k: v for k, v in claims.items() if not k.startswith("quality.")}
    raw_claims["quality"] = {k.split(".", 1)[1]: v for k, v in claims.items() if k.startswith("quality.")}
    model = ModelEntry.model_validate(
        {
            "name": name,
            "method": method or (["baseline"] if key == "baseline" else ["quantization"]),
            "details": details,
            "artifact": {"path": path or f"{name}/"},
            "format": fmt,
            "transform": transform,
            "claims": raw_claims,
        }
    )
    parsed = [claim(metric, raw, line=10 + i) for i, (metric, raw) in enumerate(claims.items())]
    return ValidatedEntry(key=key, entry=model, claims=parsed, artifact_dir=f"submissions/x/{name}")


def validated(
    team: str,
    homework: int,
    entries: list[ValidatedEntry],
    *,
    task: str = "text-classification",
    findings: list[Finding] | None = None,
    pr_number: int | None = 42,
    ok: bool = True,
) -> ValidatedSubmission:
    baseline = next((e.entry for e in entries if e.key == "baseline"), None)
    models = [e.entry for e in entries if e.key != "baseline"]
    submission = (
        Submission(team=team, homework=homework, task=task, baseline=baseline, models=models) if ok else None
    )
    manifest = f"submissions/{team}/hw-{homework}/submission.yaml"
    return ValidatedSubmission(
        manifest_path=manifest,
        manifest_sha256="9f" * 32,
        course_sha256="c0" * 32,
        submission=submission,
        entries=entries if ok else [],
        findings=findings or [],
        pull_request=PullRequestContext(
            number=pr_number,
            head_sha="4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            author=f"{team.replace('_', '-')}-alice",
            title=f"{team} HW-{homework}",
            base_ref="main",
            changed_files=[manifest],
        )
        if pr_number is not None
        else None,
    )


def finding(
    code: str,
    line: int,
    message: str,
    *,
    field: str,
    expected: str = "",
    found: str = "",
    hint: str = "",
    warning: bool = False,
) -> Finding:
    return Finding(
        code=code,
        severity=Severity.WARNING if warning else Severity.ERROR,
        location=Location(file="submissions/quantum/hw-2/submission.yaml", line=line, column=5, field=field),
        message=message,
        expected=expected,
        found=found,
        hint=hint,
    )


# --- what the harness measured -------------------------------------------------------------------


def size_report(
    weights_bytes: int,
    params: int,
    *,
    dtype: str = "F32",
    zeros: float | None = 0.0,
    unique: int | None = None,
    sparse_ideal: int | None = None,
    codebook_ideal: int | None = None,
    compressed: int | None = None,
) -> SizeReport:
    tensors = [
        TensorInfo(
            name="bert.encoder.layer.0.attention.self.query.weight",
            dtype=dtype,
            shape=[768, 768],
            bytes=768 * 768 * (2 if dtype in ("F16", "BF16") else 4),
            zeros=int(768 * 768 * (zeros or 0.0)),
            unique=unique,
        )
    ]
    return SizeReport(
        files=[
            FileInfo(path="model.safetensors", bytes=weights_bytes, sha256="a1" * 32, role="weights"),
            FileInfo(path="config.json", bytes=727, sha256="b2" * 32, role="config"),
            FileInfo(path="tokenizer.json", bytes=711_396, sha256="c3" * 32, role="tokenizer"),
        ],
        files_bytes=weights_bytes + 727 + 711_396,
        weights_bytes=weights_bytes,
        params=params,
        dtypes={dtype: DtypeShare(params=params, bytes=weights_bytes)},
        tensors=tensors,
        zeros_fraction=zeros,
        sparse_ideal_bytes=sparse_ideal,
        codebook_ideal_bytes=codebook_ideal,
        compressed_bytes=compressed,
        compressed_codec="zstd-3" if compressed else None,
        effective_bits_per_weight=weights_bytes * 8 / params,
    )


def samples_ms(median_ms: float, cv: float, n: int = 60) -> list[float]:
    """``n`` deterministic samples with the given median and (close to) the given CV."""
    z = [math.sin(1.7 * i + 0.3) for i in range(n)]
    z_sorted = sorted(z)
    mid = (z_sorted[n // 2 - 1] + z_sorted[n // 2]) / 2
    spread = (sum((v - sum(z) / n) ** 2 for v in z) / (n - 1)) ** 0.5
    return [median_ms * (1 + cv * (v - mid) / spread) for v in z]


ROUNDS = 12


def _round_factors(rounds: int, own: float, scatter: float) -> list[float]:
    """How each round ran: the machine's state, shared by every model in the round, times the
    ``scatter`` of this model's own process (``own`` tells the models apart). Both are centred on
    the log scale, and antisymmetric (round r against round R + 1 - r), so a model's median over
    the rounds, and a ratio of two models' medians, are exactly the figures a test asks for under
    any symmetric estimator (the trimmed mean included); only their intervals have a width."""

    def centred(values: list[float]) -> list[float]:
        return [(v - w) / 2 for v, w in zip(values, values[::-1], strict=True)]

    machine = centred([math.sin(2.3 * r) for r in range(1, rounds + 1)])
    process = centred([math.sin(1.1 * r + own) for r in range(1, rounds + 1)])
    return [math.exp(0.03 * m + scatter * p) for m, p in zip(machine, process, strict=True)]


def latency(
    median_ms: float,
    cv: float = 0.02,
    *,
    batch_size: int = 1,
    timer: str = "perf_counter",
    rounds_run: int = ROUNDS,
    scatter: float = 0.002,
    stop_reason: str = "decided",
) -> LatencyResult:
    """Paired rounds (twelve by default) of 60 samples each, as the harness writes them (schema 2)."""
    base = samples_ms(median_ms, cv)
    rounds = [[v * f for v in base] for f in _round_factors(rounds_run, median_ms, scatter)]
    values = [v for r in rounds for v in r]
    medians = [statistics.median(r) / batch_size for r in rounds]
    return LatencyResult(
        batch_size=batch_size,
        samples=Samples.of(values, "ms"),
        per_item=summarize([v / batch_size for v in values], "ms"),
        rounds=[summarize(r, "ms") for r in rounds],
        warmup_iters=15,
        warmup_s=0.4,
        stable=True,
        timer=timer,
        round_numbers=list(range(1, rounds_run + 1)),
        round_info=[RoundInfo(round=r, cpu=1, steal_s=0.01, wall_s=0.9) for r in range(1, rounds_run + 1)],
        median=median_interval(medians, 0.95, "ms/item"),
        stop_reason=stop_reason,
    )


def cpu(
    median_ms: float | None,
    ram_mib: float | None,
    *,
    cv: float = 0.02,
    as_run_bytes: int | None = None,
    status: Status = Status.OK,
    reason: str = "",
) -> DeviceMeasurement:
    return DeviceMeasurement(
        device="cpu",
        status=status,
        reason=reason,
        load=LoadResult(load_s=1.84, first_call_s=0.091, as_run_bytes=as_run_bytes) if median_ms else None,
        latency=latency(median_ms, cv) if median_ms else None,
        memory=MemoryResult(
            rss_before_load_bytes=412 * MIB,
            peak_rss_bytes=412 * MIB + int(ram_mib * MIB),
            peak_above_interpreter_bytes=int(ram_mib * MIB),
            source="wait4 ru_maxrss",
        )
        if ram_mib
        else None,
    )


def cuda(
    median_ms: float, vram_mib: float, *, cv: float = 0.01, as_run_bytes: int | None = None
) -> DeviceMeasurement:
    return DeviceMeasurement(
        device="cuda",
        status=Status.OK,
        load=LoadResult(load_s=2.31, first_call_s=0.412, as_run_bytes=as_run_bytes),
        latency=latency(median_ms, cv, timer="cuda_events"),
        memory=MemoryResult(
            rss_before_load_bytes=690 * MIB,
            peak_rss_bytes=1900 * MIB,
            peak_above_interpreter_bytes=1210 * MIB,
            source="wait4 ru_maxrss",
            torch_peak_allocated_bytes=int((vram_mib - 330) * MIB),
            torch_peak_reserved_bytes=int((vram_mib - 300) * MIB),
            nvml_process_bytes=int(vram_mib * MIB),
        ),
    )


NO_GPU = (
    "no CUDA device on this runner (torch.cuda.is_available() is False); "
    "install the [gpu] extra on a GPU runner"
)


def no_cuda() -> DeviceMeasurement:
    return DeviceMeasurement(device="cuda", status=Status.NOT_MEASURABLE, reason=NO_GPU)


def quality(accuracy: float, macro_f1: float, mcc: float) -> QualityResult:
    return QualityResult(
        task="text-classification",
        dataset="sentiment-ru",
        dataset_digest="sha256:5d41402abc4b2a76b9719d911017c592ae0e1d6f0f3a0d6c0c2e1b7a4f0e9d21",
        device="cpu",
        n=2000,
        seed=0,
        metrics={"accuracy": accuracy, "macro_f1": macro_f1, "mcc": mcc},
        directions={"accuracy": "higher", "macro_f1": "higher", "mcc": "higher"},
        primary="accuracy",
        params={"max_length": 128},
        seconds=41.2,
    )


def model(
    key: str,
    name: str,
    *,
    size: SizeReport | None,
    devices: list[DeviceMeasurement],
    quality_result: QualityResult | None,
    transform: str | None = None,
    fmt: str = "safetensors",
    status: Status = Status.OK,
    reason: str = "",
    phases: list[PhaseResult] | None = None,
) -> ModelMeasurement:
    return ModelMeasurement(
        key=key,
        name=name,
        role="baseline" if key == "baseline" else "candidate",
        backend="onnxruntime" if fmt == "onnx" else "transformers",
        format=fmt,
        transform=transform,
        status=status,
        reason=reason,
        artifact_digests={f"{name}/model.safetensors": "a1" * 32, f"{name}/config.json": "b2" * 32},
        size=size,
        devices={d.device: d for d in devices},
        quality=quality_result,
        phases=phases or [],
    )


def environment(*, gpu: bool) -> Environment:
    return Environment(
        harness_version="0.1.0",
        git_commit="89b4d4c0a1b2c3d4e5f60718293a4b5c6d7e8f90",
        python="3.12.3",
        platform="Linux-6.8.0-x86_64-with-glibc2.39",
        cpu_model="AMD EPYC 7B13 64-Core Processor",
        cpu_governor="performance",
        cpu_count=16,
        ram_total_bytes=64 * 2**30,
        gpus=[GpuInfo(name="Tesla T4", driver="550.54.15", cuda="12.4", memory_bytes=16 * 2**30)]
        if gpu
        else [],
        libraries={"torch": "2.13.0", "transformers": "5.24.0", "onnxruntime": "1.32.0", "numpy": "2.3.1"},
        onnxruntime_providers=["CPUExecutionProvider"] + (["CUDAExecutionProvider"] if gpu else []),
        threads={"intra_op": 4, "inter_op": 1},
        seed=0,
        input_shapes={"input_ids": [1, 128], "attention_mask": [1, 128]},
    )


def run(
    submission: ValidatedSubmission, models: list[ModelMeasurement], *, gpu: bool = False
) -> MeasurementRun:
    return MeasurementRun(
        submission=submission,
        models=models,
        environment=environment(gpu=gpu),
        started_at="2025-03-14T09:26:53Z",
        wall_s=412.7,
        order=[m.key for m in models] * 2,
    )


# --- a BERT-base baseline, used by most cases ------------------------------------------------------

BERT_PARAMS = 109_483_778
BERT_FP32 = BERT_PARAMS * 4  # 437,935,112 bytes: 437.9 MB = 417.6 MiB


def bert_baseline(*, gpu: bool = False, cpu_ms: float = 21.3, cv: float = 0.02) -> ModelMeasurement:
    devices = [cpu(cpu_ms, 611.0, cv=cv, as_run_bytes=BERT_FP32)]
    devices.append(cuda(4.1, 1012.0, as_run_bytes=BERT_FP32) if gpu else no_cuda())
    return model(
        "baseline",
        "bert-base-fp32",
        size=size_report(BERT_FP32, BERT_PARAMS, compressed=405_112_000),
        devices=devices,
        quality_result=quality(0.9125, 0.9098, 0.8251),
    )

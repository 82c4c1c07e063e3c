"""The golden cases: fixed MeasurementRuns graded by the real verify, rendered by the real report
and leaderboard. `python -m tests.golden.regen` rewrites the files; tests/test_report_golden.py
compares them byte for byte.

Normalised: the grader's version (it changes with every release) and the grading time (fixed).
Everything else is fixed by construction here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from golden.factory import (
    BERT_FP32,
    BERT_PARAMS,
    DeviceMeasurement,
    PhaseResult,
    QualityResult,
    Status,
    bert_baseline,
    cpu,
    cuda,
    entry,
    finding,
    latency,
    make_course,
    model,
    no_cuda,
    quality,
    run,
    samples_ms,
    size_report,
    validated,
)

from grader.course.model import Course
from grader.harness.models import GenerationResult, MeasurementRun
from grader.harness.stats import Samples, median_interval, summarize
from grader.verify import grade_invalid, verify
from grader.verify.models import Grade

HERE = Path(__file__).parent
NOW = datetime(2025, 3, 14, 10, 0, tzinfo=UTC)
VERSION = "0.0.0+golden"

INT8_AS_RUN = 181_874_012  # int8 Linear weights + scales + the fp32 embeddings, as the backend counts them
FP16 = BERT_PARAMS * 2
CPU_ONLY_INT8 = "dynamic-int8 runs on CPU only: torch's quantized Linear layers have no CUDA kernels"


def course() -> Course:
    return make_course()


def _normalised(grade: Grade) -> Grade:
    return grade.model_copy(update={"grader_version": VERSION})


# --- 1. everything reproduced (HW-2, a runner with a T4) --------------------------------------------


def grade_pass(*, team: str = "ml_masters", now: datetime = NOW, pr: int = 42) -> Grade:
    entries = [
        entry(
            "baseline",
            "bert-base-fp32",
            {
                "size": "438 MB",
                "latency_cpu": "21.5 ms",
                "latency_gpu": "4.2 ms",
                "ram": "620 MiB",
                "vram": "1010 MiB",
                "quality.accuracy": "91.2%",
            },
            details="bert-base-multilingual-cased fine-tuned on the course's reviews",
        ),
        entry(
            "models[0]",
            "bert-int8-dynamic",
            {
                "size": "182 MB",
                "latency_cpu": "11.4 ms",
                "ram": "340 MiB",
                "quality.accuracy": "90.8%",
                "compression": "2.4x",
            },
            transform="dynamic-int8",
            details="torch dynamic INT8 on every Linear layer",
        ),
        entry(
            "models[1]",
            "bert-fp16",
            {
                "size": "219 MB",
                "latency_cpu": "37 ms",
                "latency_gpu": "2.5 ms",
                "ram": "400 MiB",
                "vram": "650 MiB",
                "quality.accuracy": "91.2%",
            },
            details="model.half(), saved with safetensors",
        ),
    ]
    models = [
        bert_baseline(gpu=True),
        model(
            "models[0]",
            "bert-int8-dynamic",
            size=size_report(BERT_FP32, BERT_PARAMS, compressed=405_110_000),
            devices=[
                cpu(11.6, 342.0, as_run_bytes=INT8_AS_RUN),
                DeviceMeasurement(device="cuda", status=Status.NOT_MEASURABLE, reason=CPU_ONLY_INT8),
            ],
            quality_result=quality(0.9080, 0.9049, 0.8163),
            transform="dynamic-int8",
        ),
        model(
            "models[1]",
            "bert-fp16",
            size=size_report(FP16, BERT_PARAMS, dtype="F16"),
            devices=[cpu(38.2, 402.0, as_run_bytes=FP16), cuda(2.6, 640.0, as_run_bytes=FP16)],
            quality_result=quality(0.9121, 0.9095, 0.8243),
        ),
    ]
    submission = validated(team, 2, entries, pr_number=pr)
    return _normalised(verify(run(submission, models, gpu=True), course(), now=now))


# --- 2. claims that do not match (HW-3, CPU-only runner) --------------------------------------------


def grade_mismatch() -> Grade:
    entries = [
        entry(
            "baseline",
            "bert-base-fp32",
            {"size": "418 MB", "latency_cpu": "21 ms", "quality.accuracy": "91.3%"},
        ),
        entry(
            "models[0]",
            "bert-kmeans-16",
            {"size": "302 MB", "latency_cpu": "15 ms", "quality.accuracy": "90.1%"},
            method=["clustering"],
            details="k-means, 16 centroids per Linear weight",
        ),
        entry(
            "models[1]",
            "bert-kmeans-16-fp16",
            {"size": "219 MB", "quality.accuracy": "89.5%"},
            method=["clustering", "quantization"],
            details="k-means 16 + fp16 storage",
        ),
    ]
    models = [
        bert_baseline(),
        model(
            "models[0]",
            "bert-kmeans-16",
            size=size_report(
                BERT_FP32, BERT_PARAMS, unique=16, codebook_ideal=54_742_000, compressed=112_400_000
            ),
            devices=[cpu(21.1, 609.0), no_cuda()],
            quality_result=quality(0.8843, 0.8790, 0.7702),
        ),
        model(
            "models[1]",
            "bert-kmeans-16-fp16",
            size=size_report(FP16, BERT_PARAMS, dtype="F16", unique=16, codebook_ideal=54_742_000),
            devices=[cpu(38.0, 401.0), no_cuda()],
            quality_result=quality(0.9110, 0.8952, 0.8201),
        ),
    ]
    submission = validated("compressors", 3, entries, pr_number=51)
    return _normalised(verify(run(submission, models), course(), now=NOW))


# --- 3. a manifest that did not validate -----------------------------------------------------------


def grade_invalid_case() -> Grade:
    findings = [
        finding(
            "A004",
            9,
            "pickle-based weights are refused: model/pytorch_model.bin",
            field="baseline.artifact.path",
            expected="safetensors weights (model.safetensors)",
            found="model/pytorch_model.bin",
            hint="save with model.save_pretrained(dir, safe_serialization=True)",
        ),
        finding(
            "S002",
            14,
            "unknown field `claim`",
            field="models[0].claim",
            expected="one of: name, method, details, artifact, format, transform, claims",
            found="claim",
            hint="did you mean `claims`?",
        ),
        finding(
            "U002",
            18,
            "ambiguous unit 'Mb': megabits or megabytes?",
            field="models[1].claims.size",
            expected="MB (bytes) or MiB/GiB (binary bytes)",
            found="120 Mb",
            hint="120 Mb is 15.0 MB if read as megabits, 120.0 MB if read as megabytes; "
            "write 120 MB if you meant bytes",
        ),
        finding(
            "M009",
            21,
            "model names must be unique: `int8 | <img src=x onerror=alert(1)> @course-instructor` "
            "appears twice",
            field="models[2].name",
            expected="a different name for each model",
            found="int8 | <img src=x onerror=alert(1)> @course-instructor",
            hint="rename one of them",
        ),
        finding(
            "M010",
            3,
            "ram is required by HW-2 but no model claims it",
            field="models",
            hint="the grader measures it anyway; add `ram:` to each model's claims",
            warning=True,
        ),
    ]
    submission = validated("quantum", 2, [], findings=findings, pr_number=57, ok=False)
    return _normalised(grade_invalid(submission, course(), now=NOW))


# --- 4. a measurement that failed (HW-5, CPU-only runner; GPU metrics required) ---------------------


def grade_failed() -> Grade:
    entries = [
        entry(
            "baseline",
            "bert-base-fp32",
            {"size": "438 MB", "latency_cpu": "21 ms", "ram": "610 MiB", "quality.accuracy": "91.2%"},
        ),
        entry(
            "models[0]",
            "bert-onnx",
            {"size": "438 MB", "latency_cpu": "16 ms", "ram": "580 MiB", "quality.accuracy": "91.2%"},
            method=["export"],
            fmt="onnx",
            path="bert.onnx",
        ),
        entry(
            "models[1]",
            "bert-onnx-int8",
            {"size": "110 MB", "latency_cpu": "8 ms", "ram": "300 MiB", "quality.accuracy": "90.5%"},
            method=["export", "quantization"],
            fmt="onnx",
            path="bert-int8.onnx",
        ),
    ]
    # A busy runner: six rounds whose own scatter leaves the speed-up's interval across the edge of
    # the claim's band when the budget is spent.
    busy_cpu = DeviceMeasurement(
        device="cpu",
        status=Status.OK,
        load=cpu(16.4, 588.0).load,
        latency=latency(16.4, 0.172, rounds_run=6, scatter=0.45, stop_reason="budget"),
        memory=cpu(16.4, 588.0).memory,
    )
    broken = "model.onnx is not a valid ONNX model: Error parsing message with type 'onnx.ModelProto'"
    models = [
        bert_baseline(),
        model(
            "models[0]",
            "bert-onnx",
            size=size_report(438_211_000, BERT_PARAMS),
            devices=[busy_cpu, no_cuda()],
            quality_result=quality(0.9125, 0.9098, 0.8251),
            fmt="onnx",
        ),
        model(
            "models[1]",
            "bert-onnx-int8",
            size=None,
            devices=[DeviceMeasurement(device="cpu", status=Status.FAILED, reason=broken), no_cuda()],
            quality_result=None,
            fmt="onnx",
            status=Status.FAILED,
            reason=broken,
            phases=[
                PhaseResult(phase="size", status=Status.FAILED, reason=broken, wall_s=0.02),
                PhaseResult(phase="load", device="cpu", status=Status.FAILED, reason=broken, exit_code=1),
                PhaseResult(phase="latency", device="cpu", status=Status.SKIPPED, reason="the load failed"),
                PhaseResult(phase="quality", device="cpu", status=Status.SKIPPED, reason="the load failed"),
            ],
        ),
    ]
    submission = validated("ml_masters", 5, entries, pr_number=63)
    return _normalised(verify(run(submission, models), course(), now=NOW))


# --- 5. a causal LM: generation latency and per-token claims (HW-2) ----------------------------------

LLAMA_PARAMS = 1_235_814_400
LM_DATASETS = {"lm-ru": {"task": "causal-lm", "source": {"builtin": "lm-ru"}}}
LM_TASKS = {"causal-lm": {"dataset": "lm-ru", "params": {"max_length": 256, "stride": 128}}}
NO_KV_CACHE = (
    "the onnxruntime backend runs the model without a KV cache, and re-running the whole sequence for "
    "every new token is not the model's generation speed; time to first token and time per output token "
    "are measured for checkpoints the transformers backend runs (claim this model's latency per item, "
    "one forward pass, instead)"
)


def _perplexity(value: float) -> QualityResult:
    import math

    return QualityResult(
        task="causal-lm",
        dataset="lm-ru",
        dataset_digest="sha256:0c7d1e5b3f2a4968b1d0e7c6a5f4b3e2d1c0b9a8f7e6d5c4b3a29180f7e6d5c4",
        device="cpu",
        n=12,
        seed=0,
        metrics={"perplexity": value, "nll": math.log(value)},
        directions={"perplexity": "lower", "nll": "lower"},
        primary="perplexity",
        params={"max_length": 256, "stride": 128},
        seconds=18.4,
    )


def _generation(ttft_ms: float, tpot_ms: float) -> GenerationResult:
    """Two rounds of three generations each; the rounds' per-token medians sit symmetrically
    around ``tpot_ms`` (each model's own scatter a little different), as the harness pairs them."""
    ttft = samples_ms(ttft_ms, 0.03, 6)
    scatter = 0.01 + tpot_ms / 10_000
    rounds = [[v * math.exp(sign * scatter) for v in samples_ms(tpot_ms, 0.04, 32)] for sign in (1, -1)]
    return GenerationResult(
        prompt_tokens=32,
        new_tokens=32,
        kv_cache=True,
        time_to_first_token=Samples.of(ttft, "ms"),
        time_per_output_token=Samples.of([v for r in rounds for v in r], "ms/token"),
        ttft_rounds=[summarize(ttft[:3], "ms"), summarize(ttft[3:], "ms")],
        tpot_rounds=[summarize(r, "ms/token") for r in rounds],
        repeats=3,
        noise_cv=0.03,
        round_numbers=[1, 2],
        tpot_median=median_interval([statistics.median(r) for r in rounds], 0.95, "ms/token"),
    )


def generation_run() -> tuple[MeasurementRun, Course]:
    """HW-2 on a causal LM: the checkpoint, its int8 transform and an ONNX export."""
    entries = [
        entry(
            "baseline",
            "llama-1b-fp32",
            {
                "size": "4.94 GB",
                "latency_cpu": "31 ms/token",
                "ram": "5.0 GiB",
                "quality.perplexity": "21.43",
            },
        ),
        entry(
            "models[0]",
            "llama-1b-int8",
            {
                "size": "1.38 GB",
                "latency_cpu": "17 ms/token",
                "ram": "1.6 GiB",
                "quality.perplexity": "21.97",
            },
            transform="dynamic-int8",
            path="llama-1b-fp32/",
        ),
        entry(
            "models[1]",
            "llama-1b-onnx",
            {
                "size": "4.94 GB",
                "latency_cpu": "15 ms/token",
                "ram": "5.1 GiB",
                "quality.perplexity": "21.43",
            },
            method=["export"],
            fmt="onnx",
            path="llama.onnx",
        ),
    ]
    fp32 = LLAMA_PARAMS * 4
    int8_as_run = 1_379_102_720

    def device(
        window_ms: float, ram: float, as_run: int, generation: GenerationResult | None
    ) -> DeviceMeasurement:
        return cpu(window_ms, ram, as_run_bytes=as_run).model_copy(update={"generation": generation})

    models = [
        model(
            "baseline",
            "llama-1b-fp32",
            size=size_report(fp32, LLAMA_PARAMS),
            devices=[device(412.0, 5120.0, fp32, _generation(88.0, 30.2)), no_cuda()],
            quality_result=_perplexity(21.43),
        ),
        model(
            "models[0]",
            "llama-1b-int8",
            size=size_report(fp32, LLAMA_PARAMS),
            devices=[device(238.0, 1610.0, int8_as_run, _generation(51.0, 16.1)), no_cuda()],
            quality_result=_perplexity(21.97),
            transform="dynamic-int8",
        ),
        model(
            "models[1]",
            "llama-1b-onnx",
            size=size_report(fp32 + 912_000, LLAMA_PARAMS),
            devices=[device(371.0, 5210.0, fp32, None), no_cuda()],
            quality_result=_perplexity(21.43),
            fmt="onnx",
            phases=[
                PhaseResult(
                    phase="generation", device="cpu", status=Status.NOT_MEASURABLE, reason=NO_KV_CACHE
                )
            ],
        ),
    ]
    submission = validated("ml_masters", 2, entries, task="causal-lm", pr_number=58)
    return run(submission, models), make_course(tasks=LM_TASKS, datasets=LM_DATASETS)


def grade_generation() -> Grade:
    measured, lm_course = generation_run()
    return _normalised(verify(measured, lm_course, now=NOW))


# --- 6. a private eval set before the deadline: the public grade and the instructors' grade ----------------

PRIVATE_DATASETS = {
    "sentiment-ru": {"task": "text-classification", "source": {"builtin": "sentiment-ru"}},
    "reviews-hidden": {
        "task": "text-classification",
        "source": {"builtin": "sentiment-en"},
        "visibility": "private",
    },
}
# Figures that exist only in the private set's results: the leak tests look for them in public text.
PRIVATE_ACCURACY = {"baseline": 0.8731, "models[0]": 0.8614}


def _private_course() -> Course:
    homeworks = [dict(hw) for hw in make_course().model_dump(mode="json")["homeworks"]]
    for hw in homeworks:
        if hw["id"] == 2:
            hw["private_eval"] = "reviews-hidden"
            hw["deadline"] = (NOW + timedelta(days=10)).isoformat()
    return make_course(datasets=PRIVATE_DATASETS, homeworks=homeworks)


def private_run() -> tuple[MeasurementRun, Course]:
    """HW-2 with a private eval set whose deadline is ten days after NOW."""
    entries = [
        entry("baseline", "bert-base-fp32", BASE_CLAIMS_PRIVATE),
        entry(
            "models[0]",
            "bert-int8-dynamic",
            {"size": "182 MB", "latency_cpu": "11.4 ms", "ram": "350 MiB", "quality.accuracy": "90.6%"},
            transform="dynamic-int8",
            path="bert-base-fp32/",
        ),
    ]
    hidden = QualityResult(
        task="text-classification",
        dataset="reviews-hidden",
        dataset_digest="sha256:" + "7e" * 32,
        device="cpu",
        n=400,
        seed=0,
        metrics={},
        directions={"accuracy": "higher", "macro_f1": "higher", "mcc": "higher"},
        primary="accuracy",
        visibility="private",
    )
    base = bert_baseline()
    int8 = model(
        "models[0]",
        "bert-int8-dynamic",
        size=size_report(BERT_FP32, BERT_PARAMS),
        devices=[cpu(10.6, 341.0, as_run_bytes=INT8_AS_RUN), no_cuda()],
        quality_result=quality(0.9061, 0.9032, 0.8112),
        transform="dynamic-int8",
    )
    for m in (base, int8):
        value = PRIVATE_ACCURACY[m.key]
        m.private_quality = hidden.model_copy(
            update={"metrics": {"accuracy": value, "macro_f1": value - 0.0117, "mcc": value - 0.0923}}
        )
    submission = validated("compressors", 2, entries, pr_number=77)
    return run(submission, [base, int8]), _private_course()


BASE_CLAIMS_PRIVATE = {
    "size": "438 MB",
    "latency_cpu": "21 ms",
    "ram": "610 MiB",
    "quality.accuracy": "91.2%",
}


def grade_private_public() -> Grade:
    measured, private_course = private_run()
    return _normalised(verify(measured, private_course, now=NOW))


def grade_private_instructors() -> Grade:
    measured, private_course = private_run()
    return _normalised(verify(measured, private_course, now=NOW, include_private=True))


# --- the leaderboard: several teams and homeworks ------------------------------------------------------


def _hw2_team(team: str, pr: int, *, int8_ms: float, int8_quality: float, size: int, hours: int) -> Grade:
    entries = [
        entry(
            "baseline",
            "rubert-base",
            {"size": "438 MB", "latency_cpu": "21 ms", "ram": "600 MiB", "quality.accuracy": "91%"},
        ),
        entry(
            "models[0]",
            "rubert-int8",
            {
                "size": f"{size / 1e6:.0f} MB",
                "latency_cpu": f"{int8_ms:.1f} ms",
                "ram": "350 MiB",
                "quality.accuracy": f"{int8_quality * 100:.1f}%",
            },
            transform="dynamic-int8",
        ),
    ]
    models = [
        bert_baseline(),
        model(
            "models[0]",
            "rubert-int8",
            size=size_report(BERT_FP32, BERT_PARAMS),
            devices=[cpu(int8_ms, 352.0, as_run_bytes=size), no_cuda()],
            quality_result=quality(int8_quality, int8_quality - 0.003, 0.80),
            transform="dynamic-int8",
        ),
    ]
    submission = validated(team, 2, entries, pr_number=pr)
    return _normalised(verify(run(submission, models), course(), now=NOW + timedelta(hours=hours)))


def _hw4_team(team: str, pr: int, students: list[tuple[str, int, float, float]]) -> Grade:
    """A distillation homework (Pareto): (name, params, cpu ms, accuracy) per student model."""
    entries = [
        entry(
            "baseline",
            "teacher",
            {"size": "438 MB", "latency_cpu": "21 ms", "ram": "600 MiB", "quality.accuracy": "91%"},
        )
    ]
    models = [bert_baseline()]
    for i, (name, params, ms, acc) in enumerate(students):
        entries.append(
            entry(
                f"models[{i}]",
                name,
                {
                    "size": f"{params * 4 / 1e6:.1f} MB",
                    "latency_cpu": f"{ms} ms",
                    "ram": "200 MiB",
                    "quality.accuracy": f"{acc * 100:.1f}%",
                },
                method=["distillation"],
            )
        )
        models.append(
            model(
                f"models[{i}]",
                name,
                size=size_report(params * 4, params),
                devices=[cpu(ms, 201.0), no_cuda()],
                quality_result=quality(acc, acc - 0.004, 0.79),
            )
        )
    submission = validated(team, 4, entries, pr_number=pr)
    return _normalised(verify(run(submission, models), course(), now=NOW + timedelta(days=3)))


def leaderboard_grades() -> list[Grade]:
    """Merged grades of several teams: HW-2 (compression; one team below the quality gate),
    HW-3 (the mismatching submission, merged anyway), HW-4 (Pareto across teams)."""
    return [
        grade_pass(),
        _hw2_team("compressors", 44, int8_ms=10.9, int8_quality=0.9050, size=120_500_000, hours=2),
        _hw2_team("quantum", 47, int8_ms=9.8, int8_quality=0.8410, size=110_200_000, hours=5),
        grade_mismatch(),
        _hw4_team(
            "ml_masters", 70, [("distil-6l", 66_955_010, 11.2, 0.8990), ("tiny-4l", 14_350_000, 3.1, 0.8420)]
        ),
        _hw4_team("compressors", 71, [("mini-4l-312", 28_001_000, 5.2, 0.8850)]),
    ]


# --- the golden files ----------------------------------------------------------------------------------

CASES: dict[str, Callable[[], Grade]] = {
    "pass": grade_pass,
    "mismatch": grade_mismatch,
    "invalid": grade_invalid_case,
    "failed": grade_failed,
    "generation": grade_generation,
    "private_public": grade_private_public,
    "private_instructors": grade_private_instructors,
}


def golden_files(work_dir: Path) -> dict[str, str | bytes]:
    """Every golden file name → its expected content, rendered now by the real stages.
    ``work_dir``: an empty folder for the leaderboard's records and plots."""
    from grader.leaderboard import collect, load_records, render_section
    from grader.report import render_check_run, render_comment, render_summary

    out: dict[str, str | bytes] = {}
    for name, build in CASES.items():
        grade = build()
        out[f"grade_{name}.json"] = grade.to_json()
        for language in ("ru", "en"):
            out[f"comment_{name}.{language}.md"] = render_comment(grade, language)
        out[f"summary_{name}.ru.md"] = render_summary(grade, "ru")
        title, summary = render_check_run(grade, "en")
        out[f"check_run_{name}.en.md"] = f"{title}\n\n{summary}"
    results = work_dir / "results"
    for grade in leaderboard_grades():
        collect(grade, results)
    records = load_records(results)
    links = {
        2: [
            ("size", "leaderboard/plots/hw-2-size-quality.png"),
            ("speedup", "leaderboard/plots/hw-2-speedup-quality.png"),
        ]
    }
    for language in ("ru", "en"):
        out[f"leaderboard.{language}.md"] = render_section(
            records, course(), language=language, plot_links=links
        )
    return out

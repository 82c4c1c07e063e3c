"""The driver of scripts/gpu-check.sh: every GPU path of the harness on one tiny model, one report.

    python -m grader.harness.gpu_check [--cpu-dry-run] [--out DIR]

1. the machine: GPUs through NVML (never CUDA in this process), driver, CUDA, onnxruntime's
   providers, TensorRT, library versions;
2. a tiny ViT for the grader's built-in 8×8 digits (random weights, built here: no network) and
   its ONNX export;
3. `measure_submission` on it, as a submission would be graded: transformers fp32 / fp16 /
   dynamic-int8 (the last has no GPU kernel: its reason), onnxruntime (CUDA provider on a GPU),
   and `format: tensorrt` (the native TensorRT backend builds an engine from the ONNX);
4. the onnxruntime TensorRT execution provider on the same ONNX, a memory and a latency child
   through the same Runner (the cross-check of the native TensorRT figures);
5. `python -m grader selftest --device cuda` (VRAM and GPU timers within 3 %);
6. every figure, labelled, in one readable block (stdout and DIR/gpu-check.txt), the
   measurement-run JSON in DIR, and a verdict: exit 0 when every path gave its figures or its
   "not measurable" reason, 1 when something failed.

`--cpu-dry-run` runs the same steps on a machine without a GPU: the models are measured on the CPU,
every GPU path must come back NOT MEASURABLE with its reason, and the self-test must exit 3
("no CUDA device: skipped"). The test suite runs it (tests/test_gpu_check.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.course.model import Course
from grader.harness.models import DeviceMeasurement, MeasurementRun, ModelMeasurement, Status
from grader.harness.stats import Interval
from grader.units import MIB
from grader.validate.document import ValidatedSubmission

# the order grader.verify.readings checks a `vram` claim against (the first present figure)
VRAM_ORDER = (
    "nvml_process_bytes",
    "torch_peak_reserved_bytes",
    "torch_peak_allocated_bytes",
    "nvml_device_delta_bytes",
)
SELFTEST_TIMEOUT_S = 300
TEAM, HOMEWORK = "gpucheck", 1
HIDDEN, LAYERS = 128, 4
# (name, artifact folder, extra manifest fields); the first is the baseline
ENTRIES: list[tuple[str, str, dict[str, Any]]] = [
    ("torch fp32", "vit", {}),
    ("torch fp16", "vit", {"transform": "fp16", "method": ["quantization"]}),
    ("torch dynamic-int8", "vit", {"transform": "dynamic-int8", "method": ["quantization"]}),
    ("onnxruntime", "onnx", {"format": "onnx", "method": ["export"]}),
    ("tensorrt", "onnx", {"format": "tensorrt", "method": ["export"]}),
]
GPU_LATENCY = {
    "warmup_block": 10,
    "warmup_tolerance": 0.05,
    "warmup_max_s": 2.0,
    "min_iters": 50,
    "min_time_s": 0.5,
    "max_time_s": 3.0,
    "max_iters": 5000,
    "stable_tolerance": 0.02,
}
DRY_LATENCY = {
    "warmup_block": 3,
    "warmup_tolerance": 0.5,
    "warmup_max_s": 0.3,
    "min_iters": 5,
    "min_time_s": 0.05,
    "max_time_s": 0.5,
    "max_iters": 200,
    "stable_tolerance": 0.5,
}


@dataclass
class Printer:
    """Writes the report to stdout and to a file as it goes, so a cut-off run still shows its start."""

    path: Path
    lines: list[str] = field(default_factory=list)

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.lines.append(text)
        self.path.write_text("\n".join(self.lines) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grader.harness.gpu_check", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--cpu-dry-run", action="store_true", help="no GPU here: the same steps on the CPU")
    parser.add_argument("--out", type=Path, default=Path(os.environ.get("OUT") or "gpu-check-out"))
    parser.add_argument("--keep", action="store_true", help="keep the children's jobs and logs in OUT/work")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    say = Printer(out / "gpu-check.txt")
    dry = bool(args.cpu_dry_run)
    work = out / "work" if args.keep else Path(tempfile.mkdtemp(prefix="grader-gpu-check-"))
    try:
        return _check(dry, out, work, say)
    except Exception as error:  # the check itself broke: say so in the report, keep the traceback
        traceback.print_exc()
        say(f"FAILED: the check itself broke: {type(error).__name__}: {error}")
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _check(dry: bool, out: Path, work: Path, say: Printer) -> int:
    started = time.perf_counter()
    say(f"== gpu-check ({'CPU dry run: GPU paths must report their reasons' if dry else 'GPU'}) ==")
    problems: list[str] = []
    gpus = _environment(say)
    if not dry and not gpus:
        problems.append(
            "no GPU is visible to NVML or nvidia-smi: this is not a GPU runner (or its driver is broken)"
        )
    repo = work / "repo"
    say()
    say("== model ==")
    clock = time.perf_counter()
    _build_models(repo / "submissions" / TEAM / f"hw-{HOMEWORK}")
    say(
        f"tiny ViT for 8×8 digits (hidden {HIDDEN}, {LAYERS} layers, random weights) and its ONNX export, "
        f"built in {time.perf_counter() - clock:.1f} s"
    )
    devices = ["cpu", "cuda"] if dry else ["cuda"]
    course = _course(dry, devices)
    say()
    say(f"== measurements on {', '.join(devices)} (grader measure) ==")
    clock = time.perf_counter()
    run = _measure(repo, course, work)
    (out / "measurement.json").write_text(run.model_dump_json(indent=1), encoding="utf-8")
    say(f"measured in {time.perf_counter() - clock:.0f} s; the record is {out / 'measurement.json'}")
    for model in run.models:
        _print_model(model, say)
    problems += _measurement_problems(run, dry)
    say()
    say("== onnxruntime TensorRT execution provider (cross-check of the native TensorRT figures) ==")
    problems += _ort_tensorrt(repo / "submissions" / TEAM / f"hw-{HOMEWORK}" / "onnx", course, work, say)
    say()
    say("== grader selftest --device cuda ==")
    problems += _selftest(dry, out, say)
    say()
    say(f"== verdict ({time.perf_counter() - started:.0f} s) ==")
    if problems:
        for problem in problems:
            say(f"FAILED: {problem}")
        return 1
    say("OK: every path gave its figures or its reason")
    return 0


# --- the machine ---------------------------------------------------------------------------------


def _environment(say: Callable[[str], None]) -> list[Any]:
    from grader.harness.environment import cpu_model, library_versions, onnxruntime_providers, probe_gpus

    gpus, how = probe_gpus()
    say(f"python    : {sys.version.split()[0]} on {cpu_model()}, {os.cpu_count()} CPUs")
    if gpus:
        for gpu in gpus:
            memory = f"{gpu.memory_bytes / 2**30:.0f} GiB" if gpu.memory_bytes else "?"
            mig = " MIG on" if gpu.mig else ""
            say(
                f"GPU       : {gpu.name}, {memory}, compute {gpu.compute_capability or '?'}, driver "
                f"{gpu.driver or '?'}, CUDA {gpu.cuda or '?'}{mig} ({gpu.uuid})"
            )
        say(f"            listed by {how}")
    else:
        say(f"GPU       : none — {how}")
    versions = library_versions()
    for name in ("torch", "transformers", "onnxruntime", "onnx", "tensorrt", "numpy"):
        say(f"{name:<10}: {versions.get(name, 'not installed')}")
    say(f"providers : {', '.join(onnxruntime_providers()) or 'onnxruntime not importable'}")
    say(f"visible   : CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', '(unset)')}")
    return gpus


# --- the model and the submission -------------------------------------------------------------------


def _build_models(hw: Path) -> None:
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    config = ViTConfig(
        image_size=8,
        patch_size=4,
        num_channels=1,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        intermediate_size=HIDDEN * 4,
        # transformers' dataclass configs take num_labels through **kwargs (a property on
        # PreTrainedConfig, read in __post_init__), which the generated __init__'s type omits.
        num_labels=10,  # type: ignore[call-arg]
    )
    model = ViTForImageClassification(config).eval()
    folder = hw / "vit"
    model.save_pretrained(folder)
    preprocessor = {
        "do_resize": False,
        "do_rescale": True,
        "rescale_factor": 1 / 16,
        "do_normalize": True,
        "image_mean": [0.5],
        "image_std": [0.5],
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor), encoding="utf-8")
    onnx_dir = hw / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    pixels = torch.zeros(1, 1, 8, 8)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (pixels,),
            str(onnx_dir / "model.onnx"),
            input_names=["pixel_values"],
            output_names=["logits"],
            dynamic_axes={"pixel_values": {0: "batch"}, "logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy2(folder / name, onnx_dir / name)


def _course(dry: bool, devices: list[str]) -> Course:
    return Course.model_validate(
        {
            "name": {"ru": "Проверка GPU", "en": "GPU check"},
            "language": "en",
            "runner": {
                "devices": devices,
                "threads": {"intra_op": 1, "inter_op": 1},
                # a check of the paths, not of this machine's quiet: the fewest rounds, short
                "speed": {"min_rounds": 3, "max_rounds": 3, "budget_s": 30},
                "latency": DRY_LATENCY if dry else GPU_LATENCY,
                "limits": {"phase_timeout_s": 180, "memory_mib": 16384, "artifact_max_mib": 1000},
            },
            "tasks": {"image-classification": {"dataset": "digits", "params": {}}},
            "datasets": {
                "digits": {
                    "task": "image-classification",
                    "source": {"builtin": "digits-test"},
                    "limit": 24 if dry else 128,
                }
            },
            "homeworks": [{"id": HOMEWORK, "title": {"ru": "ДЗ", "en": "HW"}, "methods": ["quantization"]}],
            "teams": {TEAM: {"members": ["instructor"]}},
        }
    )


def _submission() -> ValidatedSubmission:
    from grader.manifest.model import ModelEntry, Submission
    from grader.validate.document import ValidatedEntry

    hw = Path("submissions") / TEAM / f"hw-{HOMEWORK}"
    models = [
        ModelEntry.model_validate({"name": name, "artifact": {"path": folder}, **extra})
        for name, folder, extra in ENTRIES
    ]
    submission = Submission(
        team=TEAM, homework=HOMEWORK, task="image-classification", baseline=models[0], models=models[1:]
    )
    return ValidatedSubmission(
        manifest_path=str(hw / "submission.yaml"),
        submission=submission,
        entries=[
            ValidatedEntry(key=key, entry=entry, claims=[], artifact_dir=str(hw / folder))
            for (key, entry), (_name, folder, _extra) in zip(submission.entries(), ENTRIES, strict=True)
        ],
    )


def _measure(repo: Path, course: Course, work: Path) -> MeasurementRun:
    from grader.harness.measure import ProgressEvent, measure_submission

    def progress(event: ProgressEvent) -> None:
        print(f"  … {event.stage} {event.done}/{event.total}: {event.message}", file=sys.stderr, flush=True)

    return measure_submission(
        _submission(),
        course,
        repo,
        progress=progress,
        cache_dir=work / "cache",
        work_dir=work / "children",
    )


# --- printing ------------------------------------------------------------------------------------------


def _print_model(model: ModelMeasurement, say: Callable[..., None]) -> None:
    say()
    transform = f" {model.transform}" if model.transform else ""
    say(f"[{model.name}] {model.backend} · {model.format}{transform} — {model.status.value}")
    for device in model.devices.values():
        _print_device(device, say)
    if model.quality is not None:
        quality = model.quality
        value = quality.metrics.get(quality.primary, float("nan"))
        say(
            f"  quality ({quality.device}): {quality.primary} {value:.4f} on {quality.dataset}, n={quality.n}"
        )
    for phase in model.phases:
        if phase.status in (Status.FAILED, Status.NOT_MEASURABLE) and phase.device is None:
            say(f"  {phase.phase}: {phase.status.value}: {phase.reason}")


def _print_device(dm: DeviceMeasurement, say: Callable[[str], None]) -> None:
    if dm.status is not Status.OK:
        say(f"  {dm.device}: {dm.status.value.upper()} — {dm.reason}")
    else:
        say(f"  {dm.device}: ok")
    if dm.load is not None:
        build = f" · engine build {dm.load.build_s:.1f} s" if dm.load.build_s is not None else ""
        say(f"    load {dm.load.load_s:.2f} s · first call {dm.load.first_call_s * 1000:.1f} ms{build}")
    if dm.latency is not None:
        stats = dm.latency.samples.stats
        say(
            f"    latency [{dm.latency.timer}]: median {stats.median:.3f} ms, p90 {stats.p90:.3f} ms, "
            f"n={stats.n}, {_ci_text(dm.latency.median)}, batch {dm.latency.batch_size}"
        )
    if dm.memory is not None:
        memory = dm.memory
        ram = memory.peak_above_interpreter_bytes / MIB
        say(f"    RAM above the interpreter {ram:.1f} MiB ({memory.source})")
        for line in _vram_lines(memory):
            say(line)
    if dm.providers:
        from grader.harness.gpu import provider_summary

        say(f"    providers: {provider_summary(dm.providers)}")


def _vram_lines(memory: Any) -> list[str]:
    """Each VRAM figure with its label (in the order verify reads them), then why any is missing."""
    from grader.harness.gpu import GPU_MEMORY_FIELDS

    lines = []
    for name in sorted(GPU_MEMORY_FIELDS, key=VRAM_ORDER.index):
        value = getattr(memory, name)
        if value is not None:
            label = memory.vram_labels.get(name, "")
            lines.append(f"    VRAM {name.removesuffix('_bytes')}: {value / MIB:.1f} MiB — {label}")
    return lines + [f"    VRAM note: {note}" for note in memory.vram_notes]


def _measurement_problems(run: MeasurementRun, dry: bool) -> list[str]:
    problems = []
    for model in run.models:
        for device in model.devices.values():
            if device.status is Status.FAILED:
                problems.append(f"{model.name} on {device.device}: {device.reason}")
            if device.device == "cuda" and dry and device.status is not Status.NOT_MEASURABLE:
                problems.append(f"{model.name} on cuda: {device.status.value} on a machine without a GPU")
    baseline = run.models[0].devices.get("cpu" if dry else "cuda")
    if baseline is None or baseline.status is not Status.OK or baseline.latency is None:
        problems.append(f"the fp32 baseline has no latency figure on {'cpu' if dry else 'cuda'}")
    elif not dry:
        if baseline.latency.timer != "cuda_events":
            problems.append(f"the torch baseline was timed with {baseline.latency.timer}, not CUDA events")
        memory = baseline.memory
        if memory is None or all(
            getattr(memory, name) is None
            for name in ("nvml_process_bytes", "torch_peak_reserved_bytes", "nvml_device_delta_bytes")
        ):
            problems.append("the torch baseline on cuda has no VRAM figure")
    return problems


# --- onnxruntime's TensorRT provider, through the harness's own children -------------------------------


def _ort_tensorrt(folder: Path, course: Course, work: Path, say: Callable[[str], None]) -> list[str]:
    from grader.harness.environment import ThreadPlan
    from grader.harness.jobs import Limits, PhaseJob
    from grader.harness.memory import memory_result
    from grader.harness.runner import Runner

    limits = Limits(timeout_s=course.runner.limits.phase_timeout_s, memory_bytes=16384 * MIB)
    plan = ThreadPlan.from_course(course.runner.threads)
    (work / "ort-tensorrt").mkdir(parents=True, exist_ok=True)
    problems = []
    with Runner(work / "ort-tensorrt", plan.env()) as runner:
        for phase in ("memory", "latency"):
            job = PhaseJob(
                phase=phase,
                backend="onnxruntime",
                model_dir=str(folder),
                format="tensorrt",
                device="cuda",
                task="image-classification",
                latency=course.runner.latency,
            )
            outcome = runner.run(
                job, limits, preload=("numpy", "onnx", "tokenizers"), label=f"ort-trt-{phase}"
            )
            report = outcome.report
            say(f"  {phase}: {outcome.status.value}{' — ' + outcome.reason if outcome.reason else ''}")
            if outcome.status is Status.FAILED:
                problems.append(f"onnxruntime TensorRT provider, {phase}: {outcome.reason}")
            if report is None or not outcome.ok:
                continue
            if report.load is not None:
                first_ms = report.load.first_call_s * 1000
                say(
                    f"    load {report.load.load_s:.2f} s · first call {first_ms:.1f} ms (with engine builds)"
                )
            if report.timing is not None:
                samples = sorted(report.timing.samples_ms)
                say(
                    f"    latency [{report.timing.timer}]: median {samples[len(samples) // 2]:.3f} ms, "
                    f"n={len(samples)}"
                )
            if phase == "memory" and outcome.exit is not None and report.rss_before_load_bytes is not None:
                from grader.harness.gpu import provider_summary, with_gpu_memory

                memory = with_gpu_memory(
                    memory_result(
                        rss_before_load=report.rss_before_load_bytes,
                        ru_maxrss=outcome.exit.ru_maxrss_bytes,
                        vmhwm=report.vmhwm_bytes,
                    ),
                    report.gpu,
                )
                for line in _vram_lines(memory):
                    say(line)
                if report.execution:
                    say(f"    providers: {provider_summary(report.execution)}")
    return problems


# --- the self-test -------------------------------------------------------------------------------------


def _selftest(dry: bool, out: Path, say: Callable[[str], None]) -> list[str]:
    command = [sys.executable, "-m", "grader", "selftest", "--device", "cuda", "--mib", "512"]
    env = {**os.environ, "COLUMNS": "200"}  # rich wraps its table at the terminal's width
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=SELFTEST_TIMEOUT_S, env=env, check=False
        )
    except subprocess.TimeoutExpired:
        return [f"`grader selftest --device cuda` did not finish in {SELFTEST_TIMEOUT_S} s"]
    text = (done.stdout + done.stderr).strip()
    (out / "selftest.txt").write_text(text + "\n", encoding="utf-8")
    for line in text.splitlines():
        say(f"  {line}")
    say(f"  (exit {done.returncode})")
    if dry:
        if done.returncode != 3 or "no CUDA device: skipped" not in text:
            code = done.returncode
            return [f"without a GPU the self-test must exit 3 ('no CUDA device: skipped'); it exited {code}"]
        return []
    if done.returncode != 0:
        return [f"`grader selftest --device cuda` exited {done.returncode} (see its table above)"]
    return []


def _ci_text(interval: Interval | None) -> str:
    if interval is None:
        return "no interval (fewer than two rounds)"
    return f"{interval.confidence:.0%} CI ±{interval.half_width:.1%} over {interval.rounds} rounds"


# Last: run as a script, the module runs main() here, so everything it calls must be defined above.
if __name__ == "__main__":
    sys.exit(main())

"""On a CUDA GPU (`pytest -m gpu`, the GPU runner): the self-test passes, the torch and onnxruntime
backends measure on cuda with device-true timers, labelled VRAM figures and a provider check.

Skipped with the reason everywhere else; tests/test_gpu.py and tests/test_gpu_guards.py cover what
can be checked without a GPU, and scripts/gpu-check.sh runs the same paths with a printed report.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from harness_support import bert_inputs, course, export_onnx, make_bert, team_dir, validated, write_reviews

from grader.harness.gpu import CPU_FALLBACK_LIMIT, torch_cuda_unavailable_reason

pytestmark = pytest.mark.gpu

REASON = torch_cuda_unavailable_reason()
if REASON is not None:
    pytest.skip(f"no CUDA GPU for these tests: {REASON}", allow_module_level=True)

import torch  # noqa: E402 - only where a GPU exists

from grader.harness.backends.base import LoadSpec  # noqa: E402
from grader.harness.backends.transformers import TransformersBackend  # noqa: E402
from grader.harness.environment import ThreadPlan  # noqa: E402
from grader.harness.gpu import CudaEventClock  # noqa: E402
from grader.harness.measure import measure_submission  # noqa: E402
from grader.harness.models import Status  # noqa: E402
from grader.harness.runner import Runner  # noqa: E402
from grader.harness.selftest import run_selftest  # noqa: E402
from grader.harness.timing import measure  # noqa: E402

MIB = 1024 * 1024


def test_the_gpu_selftest_passes(tmp_path: Path) -> None:
    result = run_selftest(device="cuda", mib=256, work_dir=tmp_path)
    assert not result.skipped
    failed = [c for c in result.checks if not (c.ok or c.skipped)]
    assert not failed, failed
    names = {c.name for c in result.checks}
    assert {"VRAM torch allocated", "zygote CUDA", "GPU timer (CUDA events)"} <= names


def test_cuda_events_time_a_known_gpu_sleep() -> None:
    from grader.course.model import LatencySettings

    cycles = int(torch.cuda.get_device_properties(0).clock_rate * 2)  # ~2 ms at the rated clock
    settings = LatencySettings(min_iters=20, min_time_s=0.1, max_time_s=2.0, warmup_max_s=0.5)
    events = measure(
        lambda: torch.cuda._sleep(cycles),
        settings,
        timer="cuda_events",
        clock=CudaEventClock.for_torch(torch),
    )

    def synced() -> None:
        torch.cuda._sleep(cycles)
        torch.cuda.synchronize()

    host = measure(synced, settings, timer="perf_counter+synchronize")
    # the same kernel through two independent timers: the device's and the host's
    assert abs(min(events.samples_ms) - min(host.samples_ms)) <= 0.05 * min(host.samples_ms)


def test_transformers_on_cuda_matches_the_cpu(tmp_path: Path) -> None:
    model = make_bert(tmp_path / "bert")
    inputs = bert_inputs(seq_len=12, batch=2)
    outputs = {}
    for device in ("cpu", "cuda"):
        spec = LoadSpec(
            model_dir=tmp_path / "bert", format="safetensors", device=device, task="text-classification"
        )
        with TransformersBackend(spec) as backend:
            prepared = backend.prepare(inputs)
            result = backend.run(prepared)
            backend.synchronize()
            outputs[device] = backend.to_numpy(result)["logits"]
            if device == "cuda":
                assert any("IEEE fp32" in note for note in backend.info.notes)
    del model
    np.testing.assert_allclose(outputs["cuda"], outputs["cpu"], atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def gpu_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    repo = tmp_path_factory.mktemp("repo")
    write_reviews(repo)
    hw = team_dir(repo)
    model = make_bert(hw / "base")
    export_onnx(model, hw / "base", hw / "onnx", bert_inputs())
    submission = validated(
        repo,
        "text-classification",
        [("base", {}), ("base", {"transform": "fp16"}), ("onnx", {"format": "onnx"})],
    )
    settings = course(devices=["cuda"])
    plan = ThreadPlan.from_course(settings.runner.threads)
    with Runner(tmp_path_factory.mktemp("work"), plan.env()) as runner:
        yield measure_submission(submission, settings, repo, cache_dir=repo / ".cache", runner=runner), runner


def test_torch_on_cuda_is_timed_with_events_and_reports_labelled_vram(gpu_run) -> None:
    run, runner = gpu_run
    base = run.models[0].devices["cuda"]
    assert base.status is Status.OK, base.reason
    assert base.latency is not None and base.latency.timer == "cuda_events"
    memory = base.memory
    assert memory is not None and memory.torch_peak_allocated_bytes and memory.torch_peak_reserved_bytes
    assert memory.torch_peak_reserved_bytes >= memory.torch_peak_allocated_bytes
    for name in ("torch_peak_allocated_bytes", "torch_peak_reserved_bytes"):
        assert memory.vram_labels[name]
    if memory.nvml_device_delta_bytes is not None:
        assert "sampled" in memory.vram_labels["nvml_device_delta_bytes"]
    assert any("forked from a zygote" in note for note in base.load.notes)
    assert not [n for n in runner.notes if "CUDA" in n], runner.notes
    fp16 = run.models[1].devices["cuda"]
    assert fp16.load is not None and base.load is not None
    assert fp16.load.as_run_bytes * 2 == base.load.as_run_bytes


def test_onnxruntime_on_cuda_runs_on_the_gpu_provider(gpu_run) -> None:
    run, _ = gpu_run
    onnx = run.models[2].devices["cuda"]
    if onnx.status is Status.NOT_MEASURABLE:
        pytest.skip(onnx.reason)  # onnxruntime (not -gpu) on this runner
    assert onnx.status is Status.OK, onnx.reason
    assert onnx.latency is not None and onnx.latency.timer == "perf_counter+synchronize"
    providers = {share.provider: share for share in onnx.providers}
    assert "CUDAExecutionProvider" in providers
    cpu = providers.get("CPUExecutionProvider")
    assert cpu is None or cpu.time_share <= CPU_FALLBACK_LIMIT
    assert onnx.memory is not None and (onnx.memory.nvml_process_bytes or onnx.memory.nvml_device_delta_bytes)
    assert onnx.memory.torch_peak_allocated_bytes is None  # onnxruntime's memory is not torch's

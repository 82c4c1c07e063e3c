"""The guards around every GPU path, checked on a machine without a GPU, with real components.

- CUDA never initialised before fork: the real torch/transformers zygote reports CUDA untouched,
  and a zygote whose import really initialised a (compiled, stand-in) CUDA driver is refused;
- GPU phases without a GPU come back NOT MEASURABLE with the reason, from real children, with the
  VRAM watch's own reason attached;
- onnxruntime: providers by device and format, IO binding (on the CPU device: the same code
  path), a GPU provider that did not start, precompiled EPContext engines refused;
- `grader selftest --device cuda` without a GPU: exit 3, "no CUDA device: skipped".
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from harness_support import bert_inputs, export_onnx, make_bert
from onnx import TensorProto, helper
from typer.testing import CliRunner

from grader.cli import app
from grader.course.model import Threads
from grader.exitcodes import ExitCode
from grader.harness.backends.base import LoadSpec, NotMeasurable
from grader.harness.backends.onnxruntime import (
    CUDA_OPTIONS,
    OnnxRuntimeBackend,
    check_providers_started,
    execution_providers,
    tensorrt_profile_options,
)
from grader.harness.backends.transformers import TransformersBackend
from grader.harness.environment import ThreadPlan, list_gpus
from grader.harness.gpu import torch_cuda_unavailable_reason
from grader.harness.jobs import Limits, PhaseJob, ProbeJob
from grader.harness.models import Status
from grader.harness.runner import Runner

PLAN = ThreadPlan.from_course(Threads(intra_op=1, inter_op=1))
NO_GPU = torch_cuda_unavailable_reason() is not None
needs_no_gpu = pytest.mark.skipif(not NO_GPU, reason="this machine has a CUDA GPU: tests/test_gpu_device.py")


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path, Path]:
    """A tiny BERT checkpoint and its ONNX export (dynamic batch and sequence axes)."""
    root = tmp_path_factory.mktemp("bert")
    model = make_bert(root / "base")
    export_onnx(model, root / "base", root / "onnx", bert_inputs())
    return model, root / "base", root / "onnx"


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    with Runner(tmp_path_factory.mktemp("work"), PLAN.env()) as shared:
        yield shared


# --- CUDA before fork -----------------------------------------------------------------------------------


def test_children_get_cuda_order_and_a_fork_safe_availability_check() -> None:
    env = PLAN.env()
    assert env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"  # CUDA's device 0 is NVML's index 0
    assert env["PYTORCH_NVML_BASED_CUDA_CHECK"] == "1"  # is_available() in a zygote cannot cuInit


def test_the_torch_zygote_has_not_touched_cuda_and_forks(runner: Runner) -> None:
    """The zygote GPU phases fork from (transformers' preload): torch imported, CUDA untouched."""
    outcome = runner.run(
        ProbeJob(action="alloc", mib=8), Limits(timeout_s=120), preload=TransformersBackend.preload
    )
    assert outcome.ok, outcome.reason
    ready = runner.zygote_info()[TransformersBackend.preload]
    assert "torch" in ready["modules"]
    assert ready["cuda"] == {"driver": "not loaded", "torch_initialized": False}
    assert outcome.process.startswith("forked from a zygote that preloaded numpy, torch")


FAKE_DRIVER = """
/* Stands in for libcuda.so.1: cuDeviceGetCount answers as an initialised driver (0 = CUDA_SUCCESS)
   or as one that was loaded but never initialised (3 = CUDA_ERROR_NOT_INITIALIZED). */
int cuDeviceGetCount(int *count) { *count = 1; return ANSWER; }
"""


def _fake_driver(folder: Path, answer: int) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the stand-in libcuda")
    source = folder / "fake_cuda.c"
    source.write_text(FAKE_DRIVER, encoding="ascii")
    library = folder / "libcuda.so.1"
    subprocess.run(
        [compiler, "-shared", "-fPIC", f"-DANSWER={answer}", "-o", str(library), str(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return library


@pytest.mark.parametrize(("answer", "initialised"), [(0, True), (3, False)])
def test_a_zygote_whose_imports_initialised_cuda_is_not_forked_from(
    answer: int, initialised: bool, tmp_path: Path
) -> None:
    """An import that loads (and perhaps initialises) the CUDA driver, as a careless library might:
    the zygote asks the loaded driver, and the runner refuses to fork GPU children from it."""
    library = _fake_driver(tmp_path, answer)
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "loads_cuda.py").write_text(
        f"import ctypes\nctypes.CDLL({str(library)!r}, mode=ctypes.RTLD_GLOBAL)\n", encoding="utf-8"
    )
    work = tmp_path / "work"
    work.mkdir()
    with Runner(work, {**PLAN.env(), "PYTHONPATH": str(modules)}) as guarded:
        outcome = guarded.run(ProbeJob(action="alloc", mib=8), Limits(timeout_s=60), preload=("loads_cuda",))
        ready = guarded.zygote_info()[("loads_cuda",)]
    assert outcome.ok, outcome.reason
    if initialised:
        assert ready["cuda"]["driver"] == "initialised"
        assert outcome.process == (
            "a fresh python process (zygote unavailable: the zygote cannot fork GPU children: the CUDA "
            "driver was initialised in it while importing loads_cuda (CUDA does not survive fork))"
        )
    else:
        assert ready["cuda"]["driver"] == "loaded, not initialised"
        assert outcome.process.startswith("forked from a zygote that preloaded loads_cuda")


# --- GPU phases without a GPU: real children, real reasons --------------------------------------------


@needs_no_gpu
def test_a_gpu_memory_phase_without_a_gpu_is_not_measurable_with_its_reasons(
    bert: tuple[Any, Path, Path], runner: Runner
) -> None:
    _, base, onnx_dir = bert
    common = {"device": "cuda", "task": "text-classification", "task_params": {"max_length": 16}}
    torch_job = PhaseJob(
        phase="memory", backend="transformers", model_dir=str(base), format="safetensors", **common
    )
    ort_job = PhaseJob(
        phase="memory", backend="onnxruntime", model_dir=str(onnx_dir), format="onnx", **common
    )
    for job, preload, reason in [
        (torch_job, TransformersBackend.preload, torch_cuda_unavailable_reason()),
        (ort_job, OnnxRuntimeBackend.preload, OnnxRuntimeBackend.unavailable_reason("cuda")),
    ]:
        outcome = runner.run(job, Limits(timeout_s=120), preload=preload)
        assert outcome.status is Status.NOT_MEASURABLE, (outcome.reason, outcome.stderr_tail)
        assert reason is not None and outcome.reason == reason
        gpu = outcome.report.gpu if outcome.report else None
        assert gpu is not None, "the VRAM watch ran around the load and left its report"
        assert gpu.notes and gpu.notes[0].startswith("no NVML figures: ")
        assert gpu.nvml_process_bytes is None and gpu.torch_peak_allocated_bytes is None


@needs_no_gpu
def test_the_backends_say_why_they_cannot_use_cuda_here() -> None:
    import torch

    reason = TransformersBackend.unavailable_reason("cuda")
    assert reason == torch_cuda_unavailable_reason()
    if not torch.backends.cuda.is_built():
        assert reason == (
            f"this PyTorch build ({torch.__version__}) has no CUDA support; "
            "the GPU runner needs a CUDA build of torch"
        )
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        assert OnnxRuntimeBackend.unavailable_reason("cuda") == (
            "this onnxruntime build has no CUDAExecutionProvider: the GPU runner needs onnxruntime-gpu "
            "in place of onnxruntime (see the `gpu` extra)"
        )
    assert TransformersBackend.unavailable_reason("cpu") is None


def test_dynamic_int8_has_no_gpu_figures(bert: tuple[Any, Path, Path]) -> None:
    _, base, _ = bert
    spec = LoadSpec(model_dir=base, format="safetensors", device="cuda", transform="dynamic-int8")
    with pytest.raises(NotMeasurable, match=r"dynamic-int8 .* runs on CPU only, so it has no cuda figures"):
        TransformersBackend(spec).load()


# --- onnxruntime's providers ----------------------------------------------------------------------------


def test_providers_follow_device_and_format(bert: tuple[Any, Path, Path]) -> None:
    _, _, onnx_dir = bert
    model = onnx.load(str(onnx_dir / "model.onnx"), load_external_data=False)
    assert execution_providers("cpu", "onnx") == [("CPUExecutionProvider", {})]
    cuda = execution_providers("cuda", "onnx", model, onnx_dir)
    assert [name for name, _ in cuda] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert cuda[0][1] == CUDA_OPTIONS and CUDA_OPTIONS["use_tf32"] == "0"
    trt = execution_providers("cuda", "tensorrt", model, onnx_dir)
    assert [name for name, _ in trt] == [
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert trt[0][1]["trt_engine_cache_enable"] == "0" and trt[0][1]["trt_fp16_enable"] == "0"


def test_tensorrt_provider_gets_the_native_backends_shape_ranges(bert: tuple[Any, Path, Path]) -> None:
    _, _, onnx_dir = bert
    model = onnx.load(str(onnx_dir / "model.onnx"), load_external_data=False)
    options = tensorrt_profile_options(model, onnx_dir)
    # config.json beside the export: max_position_embeddings 64 caps the sequence axis
    assert options["trt_profile_min_shapes"] == "input_ids:1x1,attention_mask:1x1,token_type_ids:1x1"
    assert options["trt_profile_opt_shapes"] == "input_ids:8x64,attention_mask:8x64,token_type_ids:8x64"
    assert options["trt_profile_max_shapes"] == "input_ids:64x64,attention_mask:64x64,token_type_ids:64x64"
    assert tensorrt_profile_options(None, None) == {}


def test_a_gpu_provider_that_did_not_start_fails_the_load() -> None:
    wanted = execution_providers("cuda", "onnx")
    check_providers_started(["CUDAExecutionProvider", "CPUExecutionProvider"], wanted)  # fine
    with pytest.raises(
        RuntimeError, match="could not start CUDAExecutionProvider on this runner and would run"
    ):
        check_providers_started(["CPUExecutionProvider"], wanted)


def test_tensorrt_format_is_a_gpu_format(bert: tuple[Any, Path, Path]) -> None:
    _, _, onnx_dir = bert
    spec = LoadSpec(model_dir=onnx_dir, format="tensorrt", device="cpu")
    with pytest.raises(NotMeasurable, match="TensorRT runs on NVIDIA GPUs only"):
        OnnxRuntimeBackend(spec).load()


def test_a_precompiled_engine_in_the_graph_is_refused(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    node = helper.make_node(
        "EPContext", ["x"], ["y"], name="trt_engine_0", domain="com.microsoft", ep_cache_context=b"\x00engine"
    )
    graph = helper.make_graph([node], "g", [x], [y])
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    onnx.save(helper.make_model(graph, opset_imports=opsets), str(tmp_path / "model.onnx"))
    with pytest.raises(NotMeasurable, match=r"embeds precompiled engines \(EPContext nodes: trt_engine_0\)"):
        OnnxRuntimeBackend(LoadSpec(model_dir=tmp_path, format="onnx")).load()


class _BoundOnCpu(OnnxRuntimeBackend):
    """The GPU path's IO binding, with the buffers on the CPU device: the same onnxruntime calls."""

    def _binding_device(self) -> str | None:
        return "cpu"


def test_io_binding_runs_the_same_graph_and_keeps_each_runs_outputs(bert: tuple[Any, Path, Path]) -> None:
    _, _, onnx_dir = bert
    spec = LoadSpec(model_dir=onnx_dir, format="onnx")
    first, second = bert_inputs(seq_len=12, batch=2), bert_inputs(seq_len=7, batch=3)
    with OnnxRuntimeBackend(spec) as plain:
        want = [plain.to_numpy(plain.run(plain.prepare(batch)))["logits"] for batch in (first, second)]
    with _BoundOnCpu(spec) as bound:
        outputs = bound.run(bound.prepare(first))
        later = bound.run(bound.prepare(second))
        bound.synchronize()
        np.testing.assert_array_equal(bound.to_numpy(outputs)["logits"], want[0])  # not overwritten
        np.testing.assert_array_equal(bound.to_numpy(later)["logits"], want[1])


# --- the GPU self-test without a GPU -------------------------------------------------------------------


@pytest.mark.skipif(bool(list_gpus()), reason="this machine has a GPU")
def test_selftest_on_cuda_without_a_gpu_is_skipped_with_exit_3(tmp_path: Path) -> None:
    from grader.harness.selftest import run_selftest

    result = run_selftest(device="cuda", work_dir=tmp_path)
    assert result.skipped.startswith("no CUDA device: skipped (no GPU: ")
    assert not result.ok and result.checks == []
    cli = CliRunner().invoke(app, ["selftest", "--device", "cuda"])
    assert cli.exit_code == ExitCode.SKIPPED == 3
    assert "no CUDA device: skipped" in cli.output


@needs_no_gpu
def test_a_gpu_probe_without_a_gpu_fails_with_the_reason(runner: Runner) -> None:
    """The self-test's GPU probes are wired into the child: without CUDA they say so."""
    from grader.harness.selftest import GPU_PRELOAD

    outcome = runner.run(ProbeJob(action="cuda_alloc", mib=16), Limits(timeout_s=120), preload=GPU_PRELOAD)
    assert outcome.status is Status.FAILED
    report = outcome.report
    assert report is not None and report.error_kind == "failed" and report.error_stage == "cuda_alloc"
    assert report.error.startswith("RuntimeError:") and "no CUDA device" in report.error


def test_a_cpu_fallback_reads_as_the_gpu_figure_failing() -> None:
    """The child raises DeviceFallback at stage `providers`; the phase's reason is its sentence."""
    from grader.harness.child import error_text
    from grader.harness.gpu import DeviceFallback
    from grader.harness.jobs import ChildReport, ExitInfo
    from grader.harness.runner import classify

    sentence = (
        "12 of 40 nodes ran on CPUExecutionProvider (63% of the profiled node time, above the 25% limit)"
    )
    assert error_text(DeviceFallback(sentence)) == sentence
    report = ChildReport(ok=False, error_kind="failed", error=sentence, error_stage="providers", pid=7)
    status, reason = classify(ExitInfo(pid=7, exit_code=1, wall_s=1.0), report, Limits(timeout_s=60))
    assert status is Status.FAILED
    assert reason == f"the model did not run on the GPU: {sentence}"

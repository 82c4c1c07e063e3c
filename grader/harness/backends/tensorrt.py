"""TensorRT backend: the runner builds an engine from the team's ONNX file, then runs it on the GPU.

A serialized TensorRT engine (`.engine`, `.plan`, `.trt`) is opaque native code for one GPU and
one TensorRT version, and may embed plugin libraries, so a submitted engine is never loaded: teams
submit the ONNX they built it from (`format: tensorrt`, artifact an `.onnx`) and the grader builds
the engine here, timing the build separately from the load (LoadInfo.build_s). No plugin library is
ever loaded (no `init_libnvinfer_plugins`, no `load_library`): an ONNX node that needs a plugin
fails the parse with its name, and nodes in custom op domains are refused before parsing.

TensorRT 10 and 11 are both supported; the differences that matter here:
- 10: networks are explicit-batch by default (the EXPLICIT_BATCH flag is deprecated and ignored);
  weak typing is the default, so we ask for STRONGLY_TYPED: the engine then runs the precisions
  the ONNX file declares (an fp16 export runs fp16, an fp32 one fp32), as it must to grade the
  team's model rather than our choice of builder flags;
- 11: strong typing is the only mode (BuilderFlag.FP16/INT8 and the STRONGLY_TYPED creation flag
  are gone), so the network is created without flags.
Both use build_serialized_network, named I/O tensors (num_io_tensors / get_tensor_name /
get_tensor_mode), set_input_shape + set_tensor_address, and execute_async_v3 on a CUDA stream.

I/O lives in torch CUDA tensors (torch is on the runner); the run is enqueued on torch's current
stream, and synchronize() waits for it, so the harness's timing is device-true (CUDA events around
run(): `cuda_events`). fp32 layers run in IEEE fp32: the TF32 builder flag is cleared where the
TensorRT version has it, as TF32 is off in every GPU backend. The engine's own memory comes from
TensorRT, not torch's allocator, so its VRAM figures are NVML's. Load time excludes the engine
build, which is reported as build_s.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from grader.file_kinds import ENGINE_SUFFIXES
from grader.harness.backends.base import Backend, LoadInfo, LoadSpec, NotMeasurable
from grader.onnx_graph import STANDARD_DOMAINS, custom_ops

# ONNX op domains TensorRT's parser implements itself; anything else would need a plugin library.
# (ai.onnx.ml has no TensorRT support either, but needs no library: the parse fails with its name.)
GPU_EXTRA = "gpu"


@dataclass(frozen=True)
class ProfileLimits:
    """Shapes an engine is built for, per dynamic dimension: axis 0 is the batch, others sequence-like."""

    max_batch: int = 64
    opt_batch: int = 8
    max_length: int = 512
    opt_length: int = 128


class EngineFileRefused(NotMeasurable):
    """A prebuilt TensorRT engine was submitted; the grader only builds engines itself."""


def find_onnx(model_dir: Path, model_file: str | None) -> Path:
    """The ONNX file to build from; a submitted engine is refused with what to submit instead."""
    if model_file:
        path = model_dir / model_file
        refuse_engine(path)
        if path.suffix.lower() != ".onnx":
            raise ValueError(f"`format: tensorrt` builds from an ONNX file; {model_file!r} is not one")
        if not path.is_file():
            raise FileNotFoundError(f"the ONNX file {model_file!r} is not in {model_dir}")
        return path
    for engine in sorted(model_dir.iterdir()) if model_dir.is_dir() else []:
        refuse_engine(engine)
    candidates = sorted(model_dir.glob("*.onnx"))
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise FileNotFoundError(
            f"expected exactly one .onnx file in {model_dir} to build the TensorRT engine from, found {found}"
        )
    return candidates[0]


def refuse_engine(path: Path) -> None:
    if path.suffix.lower() in ENGINE_SUFFIXES:
        raise EngineFileRefused(
            f"{path.name} is a prebuilt TensorRT engine; the grader never loads submitted engines "
            "(they are native code for one GPU and TensorRT version). Submit the ONNX file you built it "
            "from with `format: tensorrt`, and the runner builds the engine itself"
        )


def check_onnx_domains(path: Path) -> list[str]:
    """Refuse ops from custom domains (they would need plugin libraries); return the opsets for notes.

    Calls to the model's own local functions (the dynamo exporter emits some, in `pkg.*` domains)
    are fine: their bodies are checked like the main graph.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    custom = custom_ops(model, STANDARD_DOMAINS)
    if custom:
        raise NotMeasurable(
            f"the ONNX file uses ops from custom domains ({', '.join(custom[:5])}); TensorRT would need "
            "plugin libraries for them, and the grader loads none. Export with standard ONNX ops only"
        )
    return [f"{o.domain or 'ai.onnx'}:{o.version}" for o in model.opset_import]


def limits_for(folder: Path, limits: ProfileLimits) -> ProfileLimits:
    """Cap sequence lengths at the model's max_position_embeddings when config.json says it.

    Past it, position embeddings no longer broadcast against the tokens, and TensorRT rejects a
    profile that admits such shapes.
    """
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return limits
    longest = config.get("max_position_embeddings") if isinstance(config, dict) else None
    if not isinstance(longest, int) or isinstance(longest, bool) or longest <= 0:
        return limits
    top = min(limits.max_length, longest)
    return replace(limits, max_length=top, opt_length=min(limits.opt_length, top))


def tensorrt_major(version: str) -> int:
    return int(version.split(".")[0])


def profile_shapes(
    shape: tuple[int, ...], limits: ProfileLimits
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(min, opt, max) for an input whose dynamic dims are -1: axis 0 as batch, the rest as lengths."""
    low, opt, high = [], [], []
    for axis, dim in enumerate(shape):
        if dim >= 0:
            low.append(dim)
            opt.append(dim)
            high.append(dim)
        elif axis == 0:
            low.append(1)
            opt.append(limits.opt_batch)
            high.append(limits.max_batch)
        else:
            low.append(1)
            opt.append(limits.opt_length)
            high.append(limits.max_length)
    return tuple(low), tuple(opt), tuple(high)


class TensorRTBackend(Backend):
    name = "tensorrt"
    formats = ("tensorrt",)
    devices = ("cuda",)
    preload = ("torch",)
    extra = GPU_EXTRA
    cuda_events = True  # execute_async_v3 on torch's current stream
    limits: ClassVar[ProfileLimits] = ProfileLimits()

    def __init__(self, spec: LoadSpec) -> None:
        super().__init__(spec)
        self._engine: Any = None
        self._context: Any = None
        self._inputs: dict[str, Any] = {}  # name → torch dtype
        self._outputs: dict[str, Any] = {}
        self._bound: Any = None
        self._profile: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}

    @classmethod
    def pre_load_imports(cls, spec: LoadSpec) -> list[str]:
        """TensorRT's own import (libraries, not model memory) before the pre-load RSS reading."""
        return ["tensorrt"] if spec.device == "cuda" and _importable("tensorrt") else []

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        if device != "cuda":
            return "TensorRT runs on NVIDIA GPUs only; this model is measured on cuda"
        if not _importable("tensorrt"):
            return f"TensorRT is not installed on this runner (install the `{GPU_EXTRA}` extra)"
        from grader.harness.gpu import torch_cuda_unavailable_reason

        reason = torch_cuda_unavailable_reason()  # fork-safe: never initialises CUDA in the parent
        return f"{reason}, so TensorRT cannot run" if reason else None

    def load(self) -> LoadInfo:
        # Refusing an engine comes before anything else: it is never measurable, whatever the runner.
        onnx_path = find_onnx(Path(self.spec.model_dir), self.spec.model_file)
        reason = self.unavailable_reason(self.spec.device)
        if reason:
            raise NotMeasurable(reason)
        opsets = check_onnx_domains(onnx_path)
        import tensorrt as trt

        logger = trt.Logger(trt.Logger.WARNING)
        started = time.perf_counter()
        serialized = self._build(trt, logger, onnx_path)
        build_s = time.perf_counter() - started
        runtime = trt.Runtime(logger)
        self._engine = runtime.deserialize_cuda_engine(serialized)
        if self._engine is None:
            raise RuntimeError("TensorRT could not deserialize the engine it has just built")
        self._context = self._engine.create_execution_context()
        self._read_io(trt)
        return LoadInfo(
            providers=[f"TensorRT {trt.__version__}"],
            build_s=build_s,
            as_run_bytes=None,  # the engine holds weights in its own layout; size comes from the ONNX
            notes=[
                f"engine built on the runner from {onnx_path.name} in {build_s:.1f} s "
                f"(TensorRT {trt.__version__}, strongly typed, no TF32, opsets {', '.join(opsets)}); "
                "the load time excludes the build",
                "optimization profile: "
                + "; ".join(
                    f"{name} min {lo} opt {mid} max {hi}" for name, (lo, mid, hi) in self._profile.items()
                ),
            ],
        )

    def _build(self, trt: Any, logger: Any, onnx_path: Path) -> Any:
        builder = trt.Builder(logger)
        if tensorrt_major(trt.__version__) >= 11:
            network = builder.create_network()  # strongly typed is the only mode in 11
        else:
            network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
        parser = trt.OnnxParser(network, logger)
        # parse_from_file resolves external data relative to the file (the fetcher checked it stays
        # inside the artifact folder).
        if not parser.parse_from_file(str(onnx_path)):
            errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
            raise ValueError("TensorRT could not parse the ONNX file: " + " | ".join(errors[:5]))
        config = builder.create_builder_config()
        tf32 = getattr(trt.BuilderFlag, "TF32", None)
        if tf32 is not None:  # on by default where it exists: fp32 layers would run as TF32
            config.clear_flag(tf32)
        profile = builder.create_optimization_profile()
        limits = limits_for(onnx_path.parent, self.limits)
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            shapes = profile_shapes(tuple(tensor.shape), limits)
            profile.set_shape(tensor.name, *shapes)
            self._profile[tensor.name] = shapes
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise RuntimeError("TensorRT failed to build an engine from the ONNX file (see the log above)")
        return serialized

    def _read_io(self, trt: Any) -> None:
        for i in range(self._engine.num_io_tensors):
            name = self._engine.get_tensor_name(i)
            dtype = torch_dtype(trt, self._engine.get_tensor_dtype(name))
            if self._engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self._inputs[name] = dtype
            else:
                self._outputs[name] = dtype

    def input_names(self) -> list[str]:
        return list(self._inputs)

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """Input and output tensors on the GPU, with the shapes this batch needs. Not timed."""
        import torch

        missing = [name for name in self._inputs if name not in inputs]
        if missing:
            raise ValueError(f"the engine needs inputs {missing}, which the task did not provide")
        tensors: dict[str, Any] = {}
        for name, dtype in self._inputs.items():
            array = np.ascontiguousarray(inputs[name])
            self._check_profile(name, array.shape)
            tensors[name] = torch.from_numpy(array).to(device="cuda", dtype=dtype)
            self._context.set_input_shape(name, tuple(array.shape))
        for name, dtype in self._outputs.items():
            shape = tuple(self._context.get_tensor_shape(name))
            if any(dim < 0 for dim in shape):
                raise ValueError(
                    f"output {name} has a data-dependent shape {shape}; the grader cannot run it"
                )
            tensors[name] = torch.empty(shape, dtype=dtype, device="cuda")
        self._bind(tensors)
        return tensors

    def _check_profile(self, name: str, shape: tuple[int, ...]) -> None:
        low, _, high = self._profile.get(name, ((), (), ()))
        if low and any(not lo <= dim <= hi for dim, lo, hi in zip(shape, low, high, strict=True)):
            raise ValueError(
                f"input {name} of shape {shape} is outside the engine's optimization profile "
                f"(min {low}, max {high}); raise TensorRTBackend.limits"
            )

    def _bind(self, tensors: dict[str, Any]) -> None:
        for name, tensor in tensors.items():
            if name in self._inputs:
                self._context.set_input_shape(name, tuple(tensor.shape))
            self._context.set_tensor_address(name, tensor.data_ptr())
        self._bound = tensors

    def run(self, prepared: dict[str, Any]) -> dict[str, Any]:
        import torch

        if prepared is not self._bound:  # another batch was prepared since: rebind (cheap)
            self._bind(prepared)
        if not self._context.execute_async_v3(torch.cuda.current_stream().cuda_stream):
            raise RuntimeError("TensorRT failed to enqueue the inference")
        return {name: prepared[name] for name in self._outputs}

    def synchronize(self) -> None:
        import torch

        torch.cuda.current_stream().synchronize()

    def to_numpy(self, outputs: dict[str, Any]) -> dict[str, np.ndarray]:
        import torch

        self.synchronize()
        out = {
            name: (tensor.float() if tensor.dtype == torch.bfloat16 else tensor).cpu().numpy()
            for name, tensor in outputs.items()
        }
        if "logits" not in out and out:
            out["logits"] = next(iter(out.values()))
        return out

    def close(self) -> None:
        self._bound = None
        self._context = None
        self._engine = None
        if _importable("torch"):
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def torch_dtype(trt: Any, data_type: Any) -> Any:
    """TensorRT DataType → torch dtype (by name, so enum members missing in a version do no harm)."""
    import torch

    names = {
        "FLOAT": torch.float32,
        "HALF": torch.float16,
        "BF16": torch.bfloat16,
        "INT32": torch.int32,
        "INT64": torch.int64,
        "INT8": torch.int8,
        "UINT8": torch.uint8,
        "BOOL": torch.bool,
    }
    for name, dtype in names.items():
        if getattr(trt.DataType, name, None) == data_type:
            return dtype
    raise ValueError(f"the engine has an I/O tensor of type {data_type}, which the grader cannot feed")


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[name] is None (import blocked)
        return False

"""ONNX models through onnxruntime: the CPU, CUDA and TensorRT execution providers.

The providers follow the device and the format (`execution_providers`): `cpu` runs the CPU
provider; `cuda` runs `format: onnx` on the CUDA provider and `format: tensorrt` (an ONNX file meant
for TensorRT) on the TensorRT provider, each with the CPU provider behind it for the nodes the GPU
provider lacks. (`format: tensorrt` submissions are graded by the native TensorRT backend, which
times the engine build on its own; this path is its cross-check.) On a GPU, fp32 stays IEEE fp32
(use_tf32=0, no fp16/int8 builder flags), inputs and outputs live on the GPU through IO binding so
run() times the graph rather than host copies, and synchronize() waits for the device.

A GPU session that silently runs on the CPU is caught twice: load() fails if the GPU provider did
not start (onnxruntime would fall back to the CPU with a warning), and in the memory phase the
session is profiled (LoadSpec.profile_dir) so `execution_providers()` can say which provider ran
each node; the harness fails the GPU figures above grader.harness.gpu.CPU_FALLBACK_LIMIT.

Before a session exists the graph is checked without loading its weights: every node's domain
must be one that onnxruntime implements itself or that the model defines as a local function
(a custom domain would need a custom-op library, which the grader never loads), no node may be an
`EPContext` (a precompiled engine embedded in the graph), and every external-data file must be a
plain file inside the artifact folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from grader.fetch.safety import safe_relative_name
from grader.formats.onnx import SplitExport, split_export
from grader.harness.backends.base import Backend, LoadInfo, NotMeasurable
from grader.harness.input_roles import GraphInput, InputFeed, static_dims
from grader.harness.jobs import ProviderShare
from grader.onnx_graph import ORT_DOMAINS, custom_ops, nodes, subgraphs, tensors

if TYPE_CHECKING:
    from grader.harness.backends.onnx_split import SplitEncoderDecoder

PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider"]}  # what a device needs
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
# CUDA provider: fp32 as IEEE fp32 (TF32 off, as in the torch backends), an arena that grows by what
# is asked (the default doubles, which would inflate the VRAM figures by up to 2x), the exhaustive
# cuDNN algorithm search (its cost lands in the first call, which is reported on its own).
CUDA_OPTIONS = {
    "device_id": "0",
    "arena_extend_strategy": "kSameAsRequested",
    "cudnn_conv_algo_search": "EXHAUSTIVE",
    "do_copy_in_default_stream": "1",
    "use_tf32": "0",
}
# TensorRT provider: the precisions the graph declares (no fp16/int8 flags), and no engine cache:
# an engine is built for this session, never read from disk.
TENSORRT_OPTIONS = {
    "device_id": "0",
    "trt_fp16_enable": "0",
    "trt_int8_enable": "0",
    "trt_engine_cache_enable": "0",
    "trt_dump_subgraphs": "0",
}

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


@dataclass
class _Bound:
    """Inputs copied to the device once (outside the timed call), outputs allocated there by run()."""

    binding: Any
    inputs: dict[str, Any]  # the OrtValues, kept alive as long as the binding uses them


class OnnxRuntimeBackend(Backend):
    name: ClassVar[str] = "onnxruntime"
    formats: ClassVar[tuple[str, ...]] = ("onnx", "tensorrt")
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    # onnxruntime itself is imported in the child: importing it starts a background thread,
    # and a zygote must not hold threads when it forks. It costs ~0.1 s per child.
    preload: ClassVar[tuple[str, ...]] = ("numpy", "onnx", "tokenizers")
    extra: ClassVar[str | None] = None
    reports_execution_providers: ClassVar[bool] = True  # from the session's profile

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self._session: Any = None
        self._inputs: dict[str, Any] = {}
        self._outputs: list[str] = []
        self._bound: _Bound | None = None
        self._feed: InputFeed | None = None  # each graph input's role (grader.harness.input_roles)
        self._split: SplitEncoderDecoder | None = None  # a split encoder-decoder export's sessions

    @classmethod
    def pre_load_imports(cls, spec: Any) -> list[str]:
        """The child imports onnxruntime itself, before its pre-load RSS reading."""
        return ["onnxruntime"]

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        reason = super().unavailable_reason(device)
        if reason:
            return reason
        try:
            import onnxruntime
        except ImportError:
            return "onnxruntime is not installed (pip install onnxruntime)"
        wanted = PROVIDERS.get(device, [])
        if not set(wanted) <= set(onnxruntime.get_available_providers()):
            hint = (
                ": the GPU runner needs onnxruntime-gpu in place of onnxruntime (see the `gpu` extra)"
                if device == "cuda"
                else ""
            )
            return f"this onnxruntime build has no {', '.join(wanted)}{hint}"
        return None

    def model_path(self) -> Path:
        folder = Path(self.spec.model_dir)
        if self.spec.model_file:
            name = safe_relative_name(self.spec.model_file)
            if name is None:
                raise NotMeasurable(f"model file {self.spec.model_file!r} is not a plain relative path")
            path = folder / name
            if not path.is_file():
                raise NotMeasurable(f"{name} is not in the artifact")
            return path
        candidates = sorted(folder.glob("*.onnx"))
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise NotMeasurable("no .onnx file in the artifact folder")
        names = ", ".join(p.name for p in candidates)
        split = split_export(p.name for p in candidates)  # complete ones never get here (load)
        if split is not None:
            problem = split if isinstance(split, str) else split.missing
            raise NotMeasurable(
                f"the folder holds an incomplete split encoder-decoder export ({names}): {problem}"
            )
        raise NotMeasurable(
            f"the folder holds several .onnx files ({names}); point `path:` at the one to grade"
        )

    def load(self) -> LoadInfo:
        import onnxruntime as ort

        split = self._split_graphs()
        if split:
            return self._load_split(split)
        path = self.model_path()
        proto, providers = self._open(path)
        self._inputs = {i.name: i for i in self._session.get_inputs()}
        self._feed = InputFeed.for_task(
            self.spec.task,
            [GraphInput(i.name, static_dims(i.shape)) for i in self._session.get_inputs()],
            self.spec.input_roles,
        )
        self._outputs = [o.name for o in self._session.get_outputs()]
        notes = [
            f"onnxruntime {ort.__version__}, graph optimisation ORT_ENABLE_ALL, sequential execution, "
            f"intra_op {self.spec.intra_op_threads}, inter_op {self.spec.inter_op_threads}",
            "opsets " + ", ".join(f"{o.domain or 'ai.onnx'}:{o.version}" for o in proto.opset_import),
        ]
        if self.spec.device != "cpu":
            notes.append(gpu_note(providers))
        return LoadInfo(
            as_run_bytes=initializer_bytes(proto),
            providers=list(self._session.get_providers()),
            notes=notes,
        )

    def _split_graphs(self) -> dict[str, Path]:
        """Role → graph of a complete split encoder-decoder export in the artifact folder (format
        onnx, a folder artifact), else nothing."""
        folder = Path(self.spec.model_dir)
        if self.spec.format != "onnx" or self.spec.model_file or not folder.is_dir():
            return {}
        split = split_export(sorted(p.name for p in folder.iterdir() if p.is_file()))
        if not isinstance(split, SplitExport) or split.missing:
            return {}
        roles = {"encoder": split.encoder}
        roles |= (
            {"decoder": split.decoder, "with_past": split.with_past}
            if split.decoder
            else {"merged": split.merged}
        )
        return {role: folder / name for role, name in roles.items() if name}

    def _load_split(self, graphs: dict[str, Path]) -> LoadInfo:
        """A session per graph (grader.harness.backends.onnx_split), each checked and opened as a
        single graph is."""
        import onnxruntime as ort

        from grader.harness.backends.onnx_split import SplitEncoderDecoder

        protos: dict[Path, Any] = {}
        providers: list[tuple[str, dict[str, str]]] = []

        def session(path: Path) -> Any:
            nonlocal providers
            protos[path], providers = self._open(path)
            return self._session

        self._split = SplitEncoderDecoder.open(graphs, session)
        self._session = None  # every session lives in the split model
        self._outputs = ["logits"]
        running = self._split.graphs
        notes = [
            f"onnxruntime {ort.__version__}, graph optimisation ORT_ENABLE_ALL, sequential execution, "
            f"intra_op {self.spec.intra_op_threads}, inter_op {self.spec.inter_op_threads}",
            self._split.describe(),
        ]
        if self.spec.device != "cpu":
            notes.append(gpu_note(providers) + "; the split graphs exchange numpy arrays (host copies timed)")
        started = [p for g in running for p in g.session.get_providers()]
        return LoadInfo(
            as_run_bytes=sum(initializer_bytes(protos[g.path]) for g in running),
            providers=list(dict.fromkeys(started)),
            notes=notes,
        )

    def _open(self, path: Path) -> tuple[Any, list[tuple[str, dict[str, str]]]]:
        """Check ``path`` without its weights, then open its session as self._session: (its graph, the
        providers asked for)."""
        import onnx
        import onnxruntime as ort

        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as error:  # protobuf raises DecodeError & co.
            raise ValueError(
                f"{path.name} is not a valid ONNX model: {type(error).__name__}: {error}"
            ) from None
        check_domains(proto)
        check_external_data(proto, path.parent)
        self._check_runnable(ort)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.spec.intra_op_threads
        options.inter_op_num_threads = self.spec.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: warnings would bury the stderr tail of a failure
        if self.spec.profile_dir:
            options.enable_profiling = True
            # one file per graph: a split export's sessions start within the same second
            prefix = f"onnxruntime-{os.getpid()}-{path.stem}"
            options.profile_file_prefix = str(Path(self.spec.profile_dir) / prefix)
        providers = execution_providers(self.spec.device, self.spec.format, proto, path.parent)
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        check_providers_started(self._session.get_providers(), providers)
        return proto, providers

    def _check_runnable(self, ort: Any) -> None:
        """Refuse a device / format this onnxruntime cannot run, with the reason, before any session."""
        device = self.spec.device
        if device not in PROVIDERS:
            raise NotMeasurable(f"the onnxruntime backend does not run on {device}")
        if self.spec.format == "tensorrt" and device != "cuda":
            raise NotMeasurable("TensorRT runs on NVIDIA GPUs only; this model is measured on cuda")
        reason = self.unavailable_reason(device)
        if reason:
            raise NotMeasurable(reason)
        if self.spec.format == "tensorrt" and TENSORRT not in ort.get_available_providers():
            raise NotMeasurable(
                f"this onnxruntime build has no {TENSORRT} (onnxruntime-gpu finds it with TensorRT's "
                "libraries installed, e.g. the `tensorrt` wheel of the `gpu` extra)"
            )
        if device == "cuda" and hasattr(ort, "preload_dlls"):
            # CUDA / cuDNN from the nvidia-* wheels (torch's), where the system has none of its own.
            try:
                ort.preload_dlls()
            except Exception as error:  # the session's own error says more if they are really missing
                print(f"onnxruntime.preload_dlls() failed: {error}", flush=True)

    def _binding_device(self) -> str | None:
        """Where run() finds its inputs and leaves its outputs: the GPU on GPU runs, else None
        (plain numpy feeds, as onnxruntime runs on the CPU anyway)."""
        return "cuda" if self.spec.device == "cuda" else None

    def execution_providers(self) -> list[ProviderShare]:
        """Which execution provider ran each node so far (needs LoadSpec.profile_dir; ends profiling)."""
        from grader.harness.gpu import provider_shares, read_profile

        if self._split is not None and self.spec.profile_dir:
            return provider_shares(self._split.end_profiling())
        if self._session is None or not self.spec.profile_dir:
            return []
        profile = self._session.end_profiling()
        return provider_shares(read_profile(Path(profile))) if profile else []

    def input_names(self) -> list[str]:
        if self._split is not None:
            return self._split.input_names()
        return self._feed.names() if self._feed is not None else list(self._inputs)

    def encoder_decoder(self) -> SplitEncoderDecoder | None:
        return self._split

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray] | _Bound:
        if self._split is not None:  # each graph takes its own inputs (onnx_split.Graph.run types them)
            return {name: np.asarray(array) for name, array in inputs.items()}
        if self._feed is not None:  # the task's arrays by role → by graph input name
            inputs = self._feed.feed(inputs)
        missing = [name for name in self._inputs if name not in inputs]
        if missing:
            raise ValueError(
                f"the model needs input(s) {', '.join(missing)}, which the task does not provide "
                f"(it provides {', '.join(inputs) or 'nothing'}); export the model with the task's inputs"
            )
        feed = typed_feed(self._inputs, inputs)
        device = self._binding_device()
        return feed if device is None else self._bind(feed, device)

    def _bind(self, feed: dict[str, np.ndarray], device: str) -> _Bound:
        import onnxruntime as ort

        binding = self._session.io_binding()
        values = {}
        for name, array in feed.items():
            values[name] = ort.OrtValue.ortvalue_from_numpy(array, device, 0)
            binding.bind_ortvalue_input(name, values[name])
        for name in self._outputs:
            binding.bind_output(name, device, 0)  # allocated by each run, on the device
        binding.synchronize_inputs()
        return _Bound(binding, values)

    def run(self, prepared: dict[str, np.ndarray] | _Bound) -> list[Any]:
        if self._split is not None and isinstance(prepared, dict):
            return [self._split.forward(prepared)]
        if isinstance(prepared, _Bound):
            self._session.run_with_iobinding(prepared.binding)
            self._bound = prepared
            return prepared.binding.get_outputs()  # this run's OrtValues: the next run makes new ones
        return self._session.run(self._outputs, prepared)

    def synchronize(self) -> None:
        if self._bound is not None:
            self._bound.binding.synchronize_outputs()

    def to_numpy(self, outputs: list[Any]) -> dict[str, np.ndarray]:
        # OrtValue.numpy() copies a device tensor to the host; numpy feeds give arrays already
        arrays = [value.numpy() if hasattr(value, "device_name") else np.asarray(value) for value in outputs]
        out = dict(zip(self._outputs, arrays, strict=True))
        if "logits" not in out and self._outputs:
            out["logits"] = out[self._outputs[0]]
        return out

    def close(self) -> None:
        self._bound = None
        self._session = None
        self._split = None


def typed_feed(declared: Mapping[str, Any], inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The ``declared`` inputs (name → NodeArg) from ``inputs``, contiguous, in the declared dtypes."""
    feed = {}
    for name, meta in declared.items():
        dtype = _ORT_TYPES.get(meta.type)
        array = np.asarray(inputs[name])
        feed[name] = np.ascontiguousarray(array, dtype=dtype) if dtype is not None else array
    return feed


# --- providers -------------------------------------------------------------------------------------


def execution_providers(
    device: str, fmt: str, model: Any = None, folder: Path | None = None
) -> list[tuple[str, dict[str, str]]]:
    """The providers (with options) for a device and format, most preferred first."""
    if device == "cpu":
        return [(CPU, {})]
    cuda = (CUDA, dict(CUDA_OPTIONS))
    if fmt == "tensorrt":
        return [(TENSORRT, {**TENSORRT_OPTIONS, **tensorrt_profile_options(model, folder)}), cuda, (CPU, {})]
    return [cuda, (CPU, {})]


def tensorrt_profile_options(model: Any, folder: Path | None) -> dict[str, str]:
    """Explicit shape ranges for the graph's dynamic inputs, the native TensorRT backend's ranges:
    without them the TensorRT provider rebuilds its engine for every new input shape."""
    from grader.harness.backends.tensorrt import ProfileLimits, limits_for, profile_shapes

    if model is None:
        return {}
    limits = limits_for(folder, ProfileLimits()) if folder is not None else ProfileLimits()
    initializers = {t.name for t in model.graph.initializer}
    ranges: dict[str, list[str]] = {"min": [], "opt": [], "max": []}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = tuple(d.dim_value if d.HasField("dim_value") else -1 for d in value.type.tensor_type.shape.dim)
        if all(d >= 0 for d in dims):
            continue
        for key, shape in zip(("min", "opt", "max"), profile_shapes(dims, limits), strict=True):
            ranges[key].append(f"{value.name}:{'x'.join(str(d) for d in shape)}")
    if not ranges["min"]:
        return {}
    return {f"trt_profile_{key}_shapes": ",".join(shapes) for key, shapes in ranges.items()}


def check_providers_started(started: list[str], wanted: list[tuple[str, dict[str, str]]]) -> None:
    """onnxruntime drops a GPU provider that fails to start and runs on the CPU: refuse that."""
    missing = [name for name, _ in wanted if name != CPU and name not in started]
    if missing:
        raise RuntimeError(
            f"onnxruntime could not start {', '.join(missing)} on this runner and would run the model on "
            f"{', '.join(started) or 'nothing'}; the libraries it needs (CUDA, cuDNN, TensorRT) did not "
            "load or do not match this onnxruntime-gpu (see the log)"
        )


def gpu_note(providers: list[tuple[str, dict[str, str]]]) -> str:
    names = [name for name, _ in providers]
    note = (
        f"providers {', '.join(names)}; fp32 as IEEE fp32 (use_tf32=0), CUDA arena kSameAsRequested; "
        "inputs and outputs bound on the GPU (IO binding), so a call is timed without host copies"
    )
    if TENSORRT in names:
        note += (
            "; TensorRT builds its engines (no engine cache) inside the load and the first call, "
            "so no build time of its own is reported"
        )
    return note


# --- graph checks --------------------------------------------------------------------------------


def check_domains(model: Any) -> None:
    custom = custom_ops(model, ORT_DOMAINS)
    if custom:
        raise NotMeasurable(
            f"the graph uses custom operators ({', '.join(custom[:5])}) that need a custom-op library, "
            "and the grader never loads one; export with standard ONNX operators"
        )
    engines = sorted({node.name or node.op_type for node in nodes(model) if node.op_type == "EPContext"})
    if engines:
        raise NotMeasurable(
            f"the graph embeds precompiled engines (EPContext nodes: {', '.join(engines[:3])}), and the "
            "grader never loads a precompiled engine; submit the plain ONNX export"
        )


def check_external_data(model: Any, folder: Path) -> None:
    """External data must be plain files inside the artifact folder, and long enough."""
    from onnx import TensorProto

    root = folder.resolve()
    for tensor in tensors(model):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        info = {entry.key: entry.value for entry in tensor.external_data}
        location = info.get("location", "")
        name = safe_relative_name(location)
        if name is None:
            raise NotMeasurable(
                f"tensor {tensor.name!r} keeps its data at {location!r}, outside the artifact folder; "
                "external data must be a file next to the model"
            )
        path = folder / name
        if path.is_symlink() or not path.is_file():
            raise ValueError(
                f"external data file {name} of tensor {tensor.name!r} is missing or not a plain file"
            )
        try:
            path.resolve().relative_to(root)
        except ValueError:
            raise NotMeasurable(f"external data {name} resolves outside the artifact folder") from None
        offset, length = int(info.get("offset", 0) or 0), int(info.get("length", 0) or 0)
        if offset + length > path.stat().st_size:
            raise ValueError(
                f"external data {name} is shorter than tensor {tensor.name!r} needs "
                f"({offset + length} bytes, the file has {path.stat().st_size})"
            )


def initializer_bytes(model: Any) -> int:
    """Bytes of the graph's weights (initializers, wherever their data is stored)."""
    from onnx import TensorProto, helper

    four_bit = {getattr(TensorProto, n) for n in ("INT4", "UINT4", "FLOAT4E2M1") if hasattr(TensorProto, n)}
    total = 0
    for graph in subgraphs(model.graph):
        for tensor in graph.initializer:
            count = int(np.prod(tensor.dims)) if len(tensor.dims) else 1
            if tensor.data_type in four_bit:  # two values per byte
                total += (count + 1) // 2
                continue
            try:
                itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).itemsize
            except (KeyError, TypeError, ValueError):
                itemsize = 1
            total += count * itemsize
    return total

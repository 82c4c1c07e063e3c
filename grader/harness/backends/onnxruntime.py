"""ONNX models through onnxruntime (CPU execution provider here; CUDA / TensorRT plug in later).

Before a session exists the graph is checked without loading its weights: every node's domain
must be one that onnxruntime implements itself or that the model defines as a local function
(a custom domain would need a custom-op library, which the grader never loads), and every
external-data file must be a plain file inside the artifact folder.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from grader.fetch.safety import safe_relative_name
from grader.harness.backends.base import Backend, LoadInfo, NotMeasurable

# Operator domains onnxruntime implements itself (standard ONNX plus its own contrib ops).
BUILTIN_DOMAINS = frozenset(
    {
        "",
        "ai.onnx",
        "ai.onnx.ml",
        "ai.onnx.preview.training",
        "com.microsoft",
        "com.microsoft.nchwc",
        "com.ms.internal.nhwc",
    }
)

PROVIDERS = {"cpu": ["CPUExecutionProvider"]}

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


class OnnxRuntimeBackend(Backend):
    name: ClassVar[str] = "onnxruntime"
    formats: ClassVar[tuple[str, ...]] = ("onnx",)
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    # onnxruntime itself is imported in the child: importing it starts a background thread,
    # and a zygote must not hold threads when it forks. It costs ~0.1 s per child.
    preload: ClassVar[tuple[str, ...]] = ("numpy", "onnx", "tokenizers")
    extra: ClassVar[str | None] = None

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self._session: Any = None
        self._inputs: dict[str, Any] = {}
        self._outputs: list[str] = []

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
            return f"this onnxruntime build has no {', '.join(wanted)}"
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
        raise NotMeasurable(
            f"the folder holds several .onnx files ({names}); point `path:` at the one to grade"
        )

    def load(self) -> LoadInfo:
        import onnx
        import onnxruntime as ort

        path = self.model_path()
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as error:  # protobuf raises DecodeError & co.
            raise ValueError(
                f"{path.name} is not a valid ONNX model: {type(error).__name__}: {error}"
            ) from None
        check_domains(proto)
        check_external_data(proto, path.parent)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.spec.intra_op_threads
        options.inter_op_num_threads = self.spec.inter_op_threads
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: warnings would bury the stderr tail of a failure
        providers = PROVIDERS.get(self.spec.device)
        if providers is None:
            raise NotMeasurable(f"the onnxruntime backend does not run on {self.spec.device}")
        self._session = ort.InferenceSession(str(path), sess_options=options, providers=providers)
        self._inputs = {i.name: i for i in self._session.get_inputs()}
        self._outputs = [o.name for o in self._session.get_outputs()]
        return LoadInfo(
            as_run_bytes=initializer_bytes(proto),
            providers=list(self._session.get_providers()),
            notes=[
                f"onnxruntime {ort.__version__}, graph optimisation ORT_ENABLE_ALL, sequential execution, "
                f"intra_op {self.spec.intra_op_threads}, inter_op {self.spec.inter_op_threads}",
                "opsets " + ", ".join(f"{o.domain or 'ai.onnx'}:{o.version}" for o in proto.opset_import),
            ],
        )

    def input_names(self) -> list[str]:
        return list(self._inputs)

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = [name for name in self._inputs if name not in inputs]
        if missing:
            raise ValueError(
                f"the model needs input(s) {', '.join(missing)}, which the task does not provide "
                f"(it provides {', '.join(inputs) or 'nothing'}); export the model with the task's inputs"
            )
        feed = {}
        for name, meta in self._inputs.items():
            dtype = _ORT_TYPES.get(meta.type)
            array = np.asarray(inputs[name])
            feed[name] = np.ascontiguousarray(array, dtype=dtype) if dtype is not None else array
        return feed

    def run(self, prepared: dict[str, np.ndarray]) -> list[Any]:
        return self._session.run(self._outputs, prepared)

    def to_numpy(self, outputs: list[Any]) -> dict[str, np.ndarray]:
        out = {name: np.asarray(value) for name, value in zip(self._outputs, outputs, strict=True)}
        if "logits" not in out and self._outputs:
            out["logits"] = out[self._outputs[0]]
        return out

    def close(self) -> None:
        self._session = None


# --- graph checks --------------------------------------------------------------------------------


def _graphs(graph: Any) -> Iterator[Any]:
    """The graph and every subgraph (If / Loop / Scan bodies), depth first."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("g"):
                yield from _graphs(attribute.g)
            for sub in attribute.graphs:
                yield from _graphs(sub)


def _nodes(model: Any) -> Iterator[Any]:
    for graph in _graphs(model.graph):
        yield from graph.node
    for function in model.functions:
        yield from function.node


def check_domains(model: Any) -> None:
    local = {(f.domain, f.name) for f in model.functions}
    custom = sorted(
        {
            f"{node.domain}::{node.op_type}"
            for node in _nodes(model)
            if node.domain not in BUILTIN_DOMAINS and (node.domain, node.op_type) not in local
        }
    )
    if custom:
        raise NotMeasurable(
            f"the graph uses custom operators ({', '.join(custom[:5])}) that need a custom-op library, "
            "and the grader never loads one; export with standard ONNX operators"
        )


def _tensors(model: Any) -> Iterator[Any]:
    for graph in _graphs(model.graph):
        yield from graph.initializer
        for sparse in graph.sparse_initializer:
            yield sparse.values
            yield sparse.indices
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.HasField("t"):
                    yield attribute.t
                yield from attribute.tensors


def external_data_locations(model: Any) -> list[str]:
    """The `location` of every externally stored tensor, as written in the graph, deduplicated."""
    from onnx import TensorProto

    seen: dict[str, None] = {}
    for tensor in _tensors(model):
        if tensor.data_location == TensorProto.EXTERNAL:
            info = {entry.key: entry.value for entry in tensor.external_data}
            seen.setdefault(info.get("location", ""), None)
    return list(seen)


def check_external_data(model: Any, folder: Path) -> None:
    """External data must be plain files inside the artifact folder, and long enough."""
    from onnx import TensorProto

    root = folder.resolve()
    for tensor in _tensors(model):
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
    for graph in _graphs(model.graph):
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

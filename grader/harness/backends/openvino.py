"""OpenVINO backend: an OpenVINO IR (`model.xml` + `model.bin`) on the CPU plugin.

`format: openvino` means IR. An `.onnx` file named with `format: openvino` is accepted too and read
through OpenVINO's own ONNX frontend (the same runtime, the same kernels; a note says so), because
teams often hand OpenVINO the ONNX they already have and the measurement is of the runtime.

The compile settings are explicit and recorded, so two runs of the same IR are comparable:
thread count from the LoadSpec, one stream, the latency hint, and f32 inference precision. The
CPU plugin would otherwise pick bf16 on CPUs with AMX/AVX512-BF16 and silently change the quality
of an fp32 submission; quantized IRs (FakeQuantize / compressed weights) still run their int8/int4
kernels under this setting.

Security: no OpenVINO extensions (custom-op libraries) are ever registered, so an IR naming an
unknown op fails to load instead of running foreign code.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from grader.harness.backends.base import Backend, LoadInfo, LoadSpec, NotMeasurable
from grader.harness.input_roles import GraphInput, InputFeed

IR_SUFFIX = ".xml"
ONNX_SUFFIX = ".onnx"


def find_model_file(model_dir: Path, model_file: str | None) -> Path:
    """The IR `.xml` (or `.onnx`) to load: the named file, or the only candidate in the folder."""
    if model_file:
        path = model_dir / model_file
        if not path.is_file():
            raise FileNotFoundError(f"the OpenVINO model file {model_file!r} is not in {model_dir}")
        if path.suffix.lower() not in (IR_SUFFIX, ONNX_SUFFIX):
            raise ValueError(
                f"{model_file!r} is not an OpenVINO IR: expected the `.xml` of an IR "
                "(with its `.bin` beside it) or an `.onnx` file"
            )
        return path
    candidates = sorted(model_dir.glob(f"*{IR_SUFFIX}")) or sorted(model_dir.glob(f"*{ONNX_SUFFIX}"))
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise FileNotFoundError(
            f"expected exactly one OpenVINO IR `.xml` (or one `.onnx`) in {model_dir}, found {found}; "
            "name the file in the artifact path"
        )
    return candidates[0]


def ir_weights_file(xml: Path) -> Path:
    """The `.bin` that holds an IR's weights: same folder, same stem."""
    weights = xml.with_suffix(".bin")
    if not weights.is_file():
        raise FileNotFoundError(
            f"the OpenVINO IR {xml.name} needs its weights file {weights.name} beside it; "
            "save both with openvino.save_model(model, 'model.xml')"
        )
    return weights


class OpenVinoBackend(Backend):
    name = "openvino"
    formats = ("openvino",)
    devices = ("cpu",)
    # Not openvino itself: importing it starts a thread, and the runner refuses to fork from a
    # zygote that holds threads (every OpenVINO phase would then start a fresh interpreter). The
    # child imports it before its pre-load RSS reading (pre_load_imports).
    preload = ("numpy",)
    extra = "openvino"

    def __init__(self, spec: LoadSpec) -> None:
        super().__init__(spec)
        self._compiled: Any = None
        self._request: Any = None
        self._inputs: dict[str, np.dtype] = {}
        self._outputs: list[str] = []
        self._feed: InputFeed | None = None  # each graph input's role (grader.harness.input_roles)

    @classmethod
    def pre_load_imports(cls, spec: LoadSpec) -> list[str]:
        """The runtime, imported in the child (after fork), before its pre-load RSS reading."""
        return ["openvino"] if module_available("openvino") else []

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        reason = super().unavailable_reason(device)
        if reason:
            return reason
        if not module_available("openvino"):
            return "OpenVINO is not installed on this runner (install the `openvino` extra)"
        return None

    def compile_config(self) -> dict[str, Any]:
        """CPU plugin properties, by their string keys so they read the same in notes and logs."""
        return {
            "INFERENCE_NUM_THREADS": max(1, self.spec.intra_op_threads),
            "NUM_STREAMS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
            # Pinning moves threads to cores the harness did not pick; leave placement to the OS.
            "ENABLE_CPU_PINNING": False,
        }

    def load(self) -> LoadInfo:
        reason = self.unavailable_reason(self.spec.device)
        if reason:
            raise NotMeasurable(reason)
        import openvino as ov

        path = find_model_file(Path(self.spec.model_dir), self.spec.model_file)
        info = LoadInfo(providers=["OpenVINO CPU"])
        core = ov.Core()
        if path.suffix.lower() == IR_SUFFIX:
            weights = ir_weights_file(path)
            model = core.read_model(str(path), str(weights))
            info.as_run_bytes = weights.stat().st_size
        else:
            model = core.read_model(str(path))
            info.notes.append("read the ONNX file through OpenVINO's ONNX frontend (no IR was given)")
        config = self.compile_config()
        self._compiled = core.compile_model(model, "CPU", config)
        self._request = self._compiled.create_infer_request()
        self._inputs = {
            port.get_any_name(): np.dtype(port.get_element_type().to_dtype())
            for port in self._compiled.inputs
        }
        self._outputs = [_port_name(port, i) for i, port in enumerate(self._compiled.outputs)]
        self._feed = InputFeed.for_task(
            self.spec.task,
            [GraphInput(port.get_any_name(), _dims(port)) for port in self._compiled.inputs],
            self.spec.input_roles,
        )
        settings = self.runtime_settings()
        info.notes.append(
            f"OpenVINO {ov.get_version().split('-')[0]}, CPU plugin: "
            + ", ".join(f"{key}={value}" for key, value in settings.items())
        )
        return info

    def runtime_settings(self) -> dict[str, str]:
        """The compile settings as the compiled model reports them (what really runs, not what was asked)."""
        if self._compiled is None:
            return {}
        return {key: _setting_text(self._compiled.get_property(key)) for key in self.compile_config()}

    def input_names(self) -> list[str]:
        return self._feed.names() if self._feed is not None else list(self._inputs)

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        if self._feed is not None:  # the task's arrays by role → by graph input name
            inputs = self._feed.feed(inputs)
        missing = [name for name in self._inputs if name not in inputs]
        if missing:
            raise ValueError(
                f"the OpenVINO model needs inputs {missing} that the task did not provide "
                f"(provided: {sorted(inputs)})"
            )
        # Cast once here (not timed) to the element type the model declares: tasks give int64 ids,
        # and an IR exported with int32 ids would otherwise convert on every timed call.
        return {name: np.ascontiguousarray(inputs[name], dtype=dtype) for name, dtype in self._inputs.items()}

    def run(self, prepared: dict[str, np.ndarray]) -> Any:
        # share_inputs avoids a copy into OpenVINO's buffers; share_outputs=False copies the results
        # out, so a later call cannot overwrite the arrays a caller still holds.
        return self._request.infer(prepared, share_inputs=True, share_outputs=False)

    def to_numpy(self, outputs: Any) -> dict[str, np.ndarray]:
        arrays = [np.asarray(value) for value in outputs.values()]
        out = dict(zip(self._outputs, arrays, strict=True))
        if "logits" not in out and arrays:
            # Exporters name the first output `logits` (transformers) or `output` / `output_0` (others);
            # the tasks read `logits`, which is the model's first output by convention.
            out["logits"] = arrays[0]
        return out

    def close(self) -> None:
        self._request = None
        self._compiled = None


def module_available(name: str) -> bool:
    """Whether ``name`` can be imported, without importing it (a blocked import counts as missing)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[name] is None (import blocked)
        return False


def _setting_text(value: Any) -> str:
    """`f32` rather than `<Type: 'float32'>`; enums by their value, e.g. `LATENCY`."""
    if hasattr(value, "get_type_name"):
        return str(value.get_type_name())
    return str(getattr(value, "name", value))


def _dims(port: Any) -> tuple[int | None, ...] | None:
    """An input's static size per axis (None: dynamic), or None when its rank is dynamic."""
    shape = port.get_partial_shape()
    if shape.rank.is_dynamic:
        return None
    return tuple(d.get_length() if d.is_static else None for d in shape)


def _port_name(port: Any, index: int) -> str:
    names = port.get_names()
    if "logits" in names:
        return "logits"
    return port.get_any_name() if names else f"output_{index}"

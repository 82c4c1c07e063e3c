"""The backend contract: how the harness loads and calls a model of one format.

A backend is constructed from a LoadSpec (pure: it stores the spec and does nothing else), then
used in a `with` block::

    with TransformersBackend(spec) as backend:   # __enter__ calls load()
        prepared = backend.prepare(inputs)       # numpy → device tensors, outside the timed region
        outputs = backend.run(prepared)          # the timed call
        backend.synchronize()                    # device-true timing: wait for the device
        logits = backend.to_numpy(outputs)["logits"]

Backends never execute code from a submission: no pickle, no trust_remote_code, no submitted
TensorRT engines or custom ops.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np

if TYPE_CHECKING:
    from grader.harness.jobs import ProviderShare


@dataclass(frozen=True)
class LoadSpec:
    model_dir: Path  # a folder (or, for single-file formats, the file's folder)
    format: str  # manifest format: safetensors, onnx, openvino, tensorrt, torchscript
    device: str = "cpu"  # "cpu" or "cuda"
    transform: str | None = None  # fp16, bf16, dynamic-int8 (applied by the grader)
    task: str | None = None  # picks the model head (AutoModelFor...) where the format needs it
    intra_op_threads: int = 1
    inter_op_threads: int = 1
    model_file: str | None = None  # for single-file formats: the file name inside model_dir
    allow_code_formats: bool = False  # TorchScript & co.: only when an instructor allowed it
    # onnxruntime: profile the session into this folder, so the harness can tell which execution
    # provider ran each node (the memory phase on a GPU sets it; timed phases never do)
    profile_dir: str | None = None
    # the manifest's `inputs:`: graph input name → role (grader.input_roles), for graphs fed by role
    input_roles: Mapping[str, str] = field(default_factory=dict)


@dataclass
class LoadInfo:
    """What load() learned; the harness copies it into the measurement."""

    as_run_bytes: int | None = None  # bytes of weights as the model runs (after any transform)
    providers: list[str] = field(default_factory=list)  # execution providers that really run nodes
    build_s: float | None = None  # engine build time, for backends that build one
    notes: list[str] = field(default_factory=list)


class NotMeasurable(Exception):  # noqa: N818 - an outcome the report shows, not a bug
    """This model cannot be measured here (runtime not installed, no GPU, format refused).

    The message says why and how to fix it; the harness reports it as NOT_MEASURABLE, not FAILED.
    """


class Backend(ABC):
    name: ClassVar[str]
    formats: ClassVar[tuple[str, ...]]
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    # Modules a measurement child should import before it is forked, so each phase starts warm.
    preload: ClassVar[tuple[str, ...]] = ()
    # The pip extra that installs this backend's runtime, named in "not measurable" reasons.
    extra: ClassVar[str | None] = None
    # GPU backends: run() enqueues its work on torch's current CUDA stream, so CUDA events recorded
    # around it time the device's work (grader.harness.gpu.latency_timer); else perf_counter
    # around run() + synchronize().
    cuda_events: ClassVar[bool] = False
    # GPU backends: the model's device memory comes from torch's caching allocator, so its peaks
    # are the model's (else they would count only I/O buffers and are not reported).
    torch_allocator: ClassVar[bool] = False
    # GPU memory phases: the backend can say which execution provider ran each node of a session
    # profiled into LoadSpec.profile_dir (execution_providers), so the phase can check that the
    # GPU, not a CPU fallback, ran the model.
    reports_execution_providers: ClassVar[bool] = False

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.info = LoadInfo()

    @property
    def device(self) -> str:
        """Where the model runs: "cpu" or "cuda"."""
        return self.spec.device

    @classmethod
    def pre_load_imports(cls, spec: LoadSpec) -> list[str]:
        """Modules the child imports for this model, beyond `preload`, before its pre-load RSS
        reading (a runtime that must not be imported before fork, the architecture's modelling
        module): code is not model memory. Most backends need none."""
        return []

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        """None if this backend can run on ``device`` here; otherwise why not, in one sentence."""
        if device not in cls.devices:
            return f"the {cls.name} backend does not run on {device}"
        return None

    @abstractmethod
    def load(self) -> LoadInfo:
        """Load the model; raise NotMeasurable (with the reason) if it cannot be loaded here."""

    @abstractmethod
    def input_names(self) -> list[str]:
        """Names of the inputs the model takes (pixel_values, input_ids, attention_mask, ...)."""

    @abstractmethod
    def prepare(self, inputs: Mapping[str, np.ndarray]) -> Any:
        """Convert numpy inputs to what run() takes, on the device. Not timed."""

    @abstractmethod
    def run(self, prepared: Any) -> Any:
        """One forward call. Timed. Returns backend-native outputs."""

    @abstractmethod
    def to_numpy(self, outputs: Any) -> dict[str, np.ndarray]:
        """Backend-native outputs → {"logits": array, ...}. Not timed."""

    def execution_providers(self) -> list[ProviderShare]:
        """Which execution provider ran each node so far; only backends that declare
        `reports_execution_providers` know, the others have nothing to say."""
        return []

    def kv_cache_model(self) -> Any | None:
        """The model as a callable a generating task can drive with its own KV cache (a
        transformers model: input_ids and the cache in, logits and the cache out), or None where
        the backend only runs whole sequences. Generation is timed only with a KV cache."""
        return None

    def encoder_decoder(self) -> Any | None:
        """An encoder-decoder model split into graphs (grader.harness.backends.onnx_split: the
        encoder once, then decoder steps with their key / value cache) that a generating task drives
        step by step, or None where the backend runs one forward pass per call."""
        return None

    def synchronize(self) -> None:  # noqa: B027 - CPU backends have nothing to wait for
        """Block until the device has finished the queued work (CPU backends: nothing to do)."""

    def close(self) -> None:  # noqa: B027 - backends without resources need no close
        """Release the model (device memory, sessions)."""

    def __enter__(self) -> Self:
        self.info = self.load()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

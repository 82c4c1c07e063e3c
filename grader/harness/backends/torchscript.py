"""TorchScript backend (gated): a `torch.jit.save` archive, loaded only when an instructor allowed it.

A TorchScript archive is a program, not data: `torch.jit.load` compiles and runs the TorchScript
code stored in the archive (its `forward`, and any `__setstate__` methods during loading). That
code can call any operator registered with torch, including ones that touch files. So the grader
never loads one from a pull request on its own: the workflow sets LoadSpec.allow_code_formats only
after an instructor has reviewed the submission and added the label, and this backend refuses the
load before touching the file otherwise.

Outputs of traced/scripted transformers models come back as a dict (`strict=False`), a tuple
(`torchscript=True`) or a bare tensor; all three map to `{"logits": ...}`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from grader.formats.torchscript import TorchScript
from grader.harness.backends.base import Backend, LoadInfo, LoadSpec, NotMeasurable
from grader.validate.pr_rules import CODE_FORMAT_LABEL

# The instructor's PR label that lets `grader measure` set LoadSpec.allow_code_formats (the same
# label validation asks for: one name in messages, docs and rules).
ALLOW_LABEL = CODE_FORMAT_LABEL
ARCHIVE_SUFFIXES = TorchScript.suffixes  # the format's own: validation, fetch and size use them too
GATE_REASON = (
    "TorchScript archives contain code that runs when they are loaded, so the grader loads one only "
    f"after an instructor has reviewed the submission and added the `{ALLOW_LABEL}` label to the pull "
    "request (locally: `grader grade` or `grader measure` with `--allow-code-formats`); until then "
    "this model is not measured (or submit safetensors / ONNX instead)"
)


def find_archive(model_dir: Path, model_file: str | None) -> Path:
    """The archive to load: the named file, or the only archive-like file in the folder."""
    if model_file:
        path = model_dir / model_file
        if not path.is_file():
            raise FileNotFoundError(f"the TorchScript file {model_file!r} is not in {model_dir}")
        return path
    candidates = sorted(
        p for p in model_dir.iterdir() if p.is_file() and p.suffix.lower() in ARCHIVE_SUFFIXES
    )
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise FileNotFoundError(
            f"expected exactly one TorchScript archive ({', '.join(ARCHIVE_SUFFIXES)}) in {model_dir}, "
            f"found {found}; name the file in the artifact path"
        )
    return candidates[0]


class TorchScriptBackend(Backend):
    name = "torchscript"
    formats = ("torchscript",)
    devices = ("cpu", "cuda")
    preload = ("torch",)
    cuda_events = True
    torch_allocator = True

    def __init__(self, spec: LoadSpec) -> None:
        super().__init__(spec)
        self._module: Any = None
        self._inputs: list[str] = []
        self._required: set[str] = set()

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        reason = super().unavailable_reason(device)
        if reason or device != "cuda":
            return reason
        from grader.harness.gpu import torch_cuda_unavailable_reason

        return torch_cuda_unavailable_reason()  # fork-safe: never initialises CUDA in the parent

    def load(self) -> LoadInfo:
        # The gate comes first: nothing about the archive is read before an instructor allowed it.
        if not self.spec.allow_code_formats:
            raise NotMeasurable(GATE_REASON)
        reason = self.unavailable_reason(self.spec.device)
        if reason:
            raise NotMeasurable(reason)
        import torch

        path = find_archive(Path(self.spec.model_dir), self.spec.model_file)
        thread_note = _set_torch_threads(self.spec.intra_op_threads, self.spec.inter_op_threads)
        # Runs the archive's code (see the module docstring): allowed here only behind the gate above.
        module = torch.jit.load(str(path), map_location=self.spec.device)
        module.eval()
        self._module = module
        arguments = [arg for arg in module.forward.schema.arguments if arg.name != "self"]
        self._inputs = [arg.name for arg in arguments]
        self._required = {arg.name for arg in arguments if arg.default_value is None and not _optional(arg)}
        notes = [f"TorchScript archive {path.name} loaded with the `{ALLOW_LABEL}` label (code format)"]
        if thread_note:
            notes.append(thread_note)
        return LoadInfo(
            as_run_bytes=_unique_tensor_bytes(module),
            providers=[f"torch.jit ({self.spec.device})"],
            notes=notes,
        )

    def input_names(self) -> list[str]:
        return list(self._inputs)

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        import torch

        missing = sorted(self._required - set(inputs))
        if missing:
            raise ValueError(
                f"the TorchScript model's forward needs {missing}, which the task did not provide "
                f"(provided: {sorted(inputs)})"
            )
        # Only the arguments forward declares: tasks may offer extras (token_type_ids) it lacks.
        return {
            name: torch.from_numpy(np.ascontiguousarray(inputs[name])).to(self.spec.device)
            for name in self._inputs
            if name in inputs
        }

    def run(self, prepared: dict[str, Any]) -> Any:
        import torch

        with torch.inference_mode():
            return self._module(**prepared)

    def synchronize(self) -> None:
        if self.spec.device == "cuda":
            import torch

            torch.cuda.synchronize()

    def to_numpy(self, outputs: Any) -> dict[str, np.ndarray]:
        import torch

        if isinstance(outputs, torch.Tensor):
            return {"logits": _to_array(outputs)}
        if isinstance(outputs, Mapping):
            out = {str(k): _to_array(v) for k, v in outputs.items() if isinstance(v, torch.Tensor)}
        elif isinstance(outputs, (tuple, list)):
            tensors = [v for v in outputs if isinstance(v, torch.Tensor)]
            out = {f"output_{i}": _to_array(v) for i, v in enumerate(tensors)}
            if tensors:
                out["logits"] = out["output_0"]
        else:
            raise TypeError(f"the TorchScript model returned {type(outputs).__name__}, not tensors")
        if "logits" not in out and out:
            out["logits"] = next(iter(out.values()))
        return out

    def close(self) -> None:
        self._module = None
        if self.spec.device == "cuda":
            import torch

            torch.cuda.empty_cache()


def _set_torch_threads(intra: int, inter: int) -> str | None:
    """Apply the thread counts; a note if the inter-op pool could not be resized."""
    import torch

    torch.set_num_threads(max(1, intra))
    if torch.get_num_interop_threads() == max(1, inter):
        return None
    try:
        torch.set_num_interop_threads(max(1, inter))
    except RuntimeError:
        # The inter-op pool can be sized only before its first use in the process.
        return f"torch inter-op threads stay at {torch.get_num_interop_threads()} (pool already started)"
    return None


def _optional(argument: Any) -> bool:
    return "Optional" in str(argument.type) or str(argument.type).endswith("?")


def _unique_tensor_bytes(module: Any) -> int:
    """Bytes of parameters and buffers, each storage counted once (tied weights share one)."""
    seen: set[int] = set()
    total = 0
    for tensor in [*module.parameters(), *module.buffers()]:
        storage = tensor.untyped_storage()
        if storage.data_ptr() in seen:
            continue
        seen.add(storage.data_ptr())
        total += storage.nbytes()
    return total


def _to_array(tensor: Any) -> np.ndarray:
    import torch

    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
        tensor = tensor.float()
    return tensor.detach().cpu().numpy()

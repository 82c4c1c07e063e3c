"""PyTorch models through transformers: a safetensors checkpoint folder (config.json + weights).

The model head comes from the task (Task.model_heads). Runtime transforms that the grader applies
itself (fp16, bf16, dynamic-int8) are declared in the manifest. On `cuda` the model is moved to
the GPU after its transform (dynamic-int8 is a CPU kernel: not measurable there), fp32 runs as IEEE
fp32 (no TF32), and run() enqueues on torch's current stream, so CUDA events time it. Pruned
checkpoints saved with `torch.nn.utils.prune` masks (`weight_orig` + `weight_mask`) are folded
back into plain weights before loading. Never: pickle weights, trust_remote_code, custom modelling code.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from grader.fetch.safety import pickle_files
from grader.harness.backends.base import Backend, LoadInfo, NotMeasurable
from grader.harness.backends.quantized import (
    fit_loaded_model,
    pre_load_modules,
    prepare_quantized_load,
    quantization_notes,
    quantized_weight_bytes,
)

# Tensors a task may feed; other forward() parameters (labels, caches, flags) are not inputs.
INPUT_NAMES = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "pixel_values",
    "pixel_mask",
    "input_features",
    "input_values",
    "decoder_input_ids",
    "decoder_attention_mask",
)

TRANSFORMS = ("fp16", "bf16", "dynamic-int8")


class TransformersBackend(Backend):
    name: ClassVar[str] = "transformers"
    formats: ClassVar[tuple[str, ...]] = ("safetensors",)
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")
    cuda_events: ClassVar[bool] = True
    torch_allocator: ClassVar[bool] = True
    preload: ClassVar[tuple[str, ...]] = (
        "numpy",
        "torch",
        "safetensors.torch",
        "transformers",
        "transformers.modeling_utils",
        "transformers.models.auto.modeling_auto",
        "tokenizers",
    )
    extra: ClassVar[str | None] = None  # torch and transformers are core dependencies

    def __init__(self, spec: Any) -> None:
        super().__init__(spec)
        self.model: Any = None
        self._scratch: Path | None = None
        self._float_dtype: Any = None
        self._accepted: list[str] = []
        self._inference_mode: Any = None

    @classmethod
    def unavailable_reason(cls, device: str) -> str | None:
        reason = super().unavailable_reason(device)
        if reason or device == "cpu":
            return reason
        from grader.harness.gpu import torch_cuda_unavailable_reason

        return torch_cuda_unavailable_reason()  # fork-safe: the parent never initialises CUDA

    @classmethod
    def pre_load_imports(cls, spec: Any) -> list[str]:
        """The architecture's modelling module (code, imported lazily by transformers), if known,
        and a quantized checkpoint's runtime (gptqmodel & co., see quantized.pre_load_modules)."""
        quantized = pre_load_modules(Path(spec.model_dir), spec.device)
        try:
            config = json.loads((Path(spec.model_dir) / "config.json").read_text(encoding="utf-8"))
            from transformers.models.auto.configuration_auto import model_type_to_module_name

            module = model_type_to_module_name(str(config["model_type"]))
        except Exception:  # no/odd config: load() will say what is wrong with it
            return quantized
        name = f"transformers.models.{module}.modeling_{module}"
        return ([name] if importlib.util.find_spec(name) is not None else []) + quantized

    # --- load -------------------------------------------------------------------------------

    def load(self) -> LoadInfo:
        import torch

        folder = Path(self.spec.model_dir)
        if self.spec.transform is not None and self.spec.transform not in TRANSFORMS:
            raise NotMeasurable(
                f"unknown transform {self.spec.transform!r}; the grader applies {', '.join(TRANSFORMS)}"
            )
        config = _check_folder(folder)
        notes: list[str] = []
        if self.spec.device != "cpu":
            notes.append(self._prepare_gpu())
        # GPTQ / AWQ / compressed-tensors: transformers' quantizers, with explicit kernels.
        is_quantized = "quantization_config" in config
        quantized = prepare_quantized_load(folder, self.spec.device) if is_quantized else {}
        if is_quantized and self.spec.transform is not None:
            raise NotMeasurable(
                f"`transform: {self.spec.transform}` applies to dense checkpoints; "
                "this one is quantized already"
            )
        load_from = self._fold_pruning_masks(folder, notes)
        auto_class = _head_class(self.spec.task, config)
        kwargs: dict[str, Any] = {
            "use_safetensors": True,
            "trust_remote_code": False,
            "local_files_only": True,
            "dtype": "auto",
            "output_loading_info": True,
        }
        model, loading = auto_class.from_pretrained(str(load_from), **(kwargs | quantized))
        _check_loading_info(loading, notes)
        model.eval()
        model = self._apply_transform(model, notes)
        if self.spec.device != "cpu" and "device_map" not in quantized:
            model = model.to(self.spec.device)
        self.model = model
        self._float_dtype = next(
            (p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32
        )
        self._accepted = _forward_inputs(model)
        notes.append(f"{type(model).__name__} via {auto_class.__name__}, dtype {self._float_dtype}")
        # Inference mode for the rest of the backend's life, entered once: entering it around
        # every call costs ~1 % of a sub-millisecond model's time, which is not the model's.
        self._inference_mode = torch.inference_mode()
        self._inference_mode.__enter__()
        if is_quantized:
            notes += quantization_notes(folder, model) + fit_loaded_model(model, self.spec.device)
            return LoadInfo(as_run_bytes=quantized_weight_bytes(model), notes=notes)
        return LoadInfo(as_run_bytes=weight_bytes(model), notes=notes)

    def _prepare_gpu(self) -> str:
        """Before anything is loaded: refuse what cannot run on the GPU, and fix fp32's meaning."""
        import torch

        if self.spec.transform == "dynamic-int8":
            raise NotMeasurable(
                "dynamic-int8 (torch dynamic quantization) runs on CPU only, so it has no "
                f"{self.spec.device} figures; its CPU figures stand"
            )
        reason = self.unavailable_reason(self.spec.device)
        if reason:
            raise NotMeasurable(reason)
        from grader.harness.gpu import disable_tf32

        return disable_tf32(torch)

    def _fold_pruning_masks(self, folder: Path, notes: list[str]) -> Path:
        """`x_orig` * `x_mask` → `x`, written to a scratch copy of the checkpoint; else ``folder``."""
        from safetensors import safe_open
        from safetensors.torch import save_file

        files = sorted(folder.glob("*.safetensors"))
        keys: dict[Path, list[str]] = {}
        for path in files:
            with safe_open(str(path), framework="pt") as handle:
                keys[path] = list(handle.keys())
        all_keys = {k for ks in keys.values() for k in ks}
        pruned = sorted(
            k.removesuffix("_orig")
            for k in all_keys
            if k.endswith("_orig") and k.removesuffix("_orig") + "_mask" in all_keys
        )
        if not pruned:
            return folder
        tensors: dict[str, Any] = {}
        for path in files:
            with safe_open(str(path), framework="pt") as handle:
                for key in keys[path]:
                    tensors[key] = handle.get_tensor(key)
        for name in pruned:
            orig, mask = tensors.pop(f"{name}_orig"), tensors.pop(f"{name}_mask")
            tensors[name] = (orig * mask.to(orig.dtype)).contiguous()
        self._scratch = Path(tempfile.mkdtemp(prefix="grader-pruned-"))
        for path in folder.iterdir():
            if path.is_file() and not path.name.endswith((".safetensors", ".safetensors.index.json")):
                shutil.copy2(path, self._scratch / path.name)
        save_file(tensors, str(self._scratch / "model.safetensors"), metadata={"format": "pt"})
        notes.append(f"folded {len(pruned)} pruning masks (weight = weight_orig * weight_mask)")
        return self._scratch

    def _apply_transform(self, model: Any, notes: list[str]) -> Any:
        import torch

        transform = self.spec.transform
        if transform is None:
            return model
        if transform in ("fp16", "bf16"):
            notes.append(
                f"transform {transform}: model.to({'float16' if transform == 'fp16' else 'bfloat16'})"
            )
            return model.to(torch.float16 if transform == "fp16" else torch.bfloat16)
        if self.spec.device != "cpu":
            raise NotMeasurable("dynamic-int8 (torch dynamic quantization) runs on CPU only")
        quantize_dynamic = getattr(getattr(torch, "ao", None), "quantization", None)
        quantize_dynamic = getattr(quantize_dynamic, "quantize_dynamic", None)
        if quantize_dynamic is None:
            raise NotMeasurable(
                "dynamic-int8 needs torch.ao.quantization.quantize_dynamic, "
                f"which torch {torch.__version__} lacks"
            )
        engine = torch.backends.quantized.engine
        notes.append(f"transform dynamic-int8: quantize_dynamic(Linear → qint8), engine {engine}")
        with warnings.catch_warnings():  # torch.ao.quantization warns that it moves to torchao
            warnings.simplefilter("ignore", DeprecationWarning)
            return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)

    # --- run --------------------------------------------------------------------------------

    def input_names(self) -> list[str]:
        return list(self._accepted)

    def prepare(self, inputs: Mapping[str, np.ndarray]) -> dict[str, Any]:
        import torch

        prepared: dict[str, Any] = {}
        for name, array in inputs.items():
            if name not in self._accepted:
                continue
            tensor = torch.from_numpy(np.ascontiguousarray(array))
            if tensor.is_floating_point():
                tensor = tensor.to(self._float_dtype)
            elif tensor.dtype in (torch.int32, torch.int16, torch.uint8, torch.int8):
                tensor = tensor.long()
            prepared[name] = tensor.to(self.spec.device)
        return prepared

    def run(self, prepared: dict[str, Any]) -> Any:
        return self.model(**prepared)  # under the inference mode that load() entered

    def kv_cache_model(self) -> Any | None:
        """The loaded model, unless its config turns the KV cache off."""
        if self.model is None or not getattr(self.model.config, "use_cache", True):
            return None
        return self.model

    def synchronize(self) -> None:
        if self.spec.device.startswith("cuda"):
            import torch

            torch.cuda.synchronize()

    def to_numpy(self, outputs: Any) -> dict[str, np.ndarray]:
        import torch

        items = outputs.items() if hasattr(outputs, "items") else [("logits", outputs)]
        out: dict[str, np.ndarray] = {}
        for key, value in items:
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu()
                out[key] = (value.float() if value.is_floating_point() else value).numpy()
        return out

    def close(self) -> None:
        if self._inference_mode is not None:
            self._inference_mode.__exit__(None, None, None)
            self._inference_mode = None
        self.model = None
        if self.spec.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


# --- helpers -----------------------------------------------------------------------------------


def _check_folder(folder: Path) -> dict[str, Any]:
    """Refuse what this backend must not or cannot load; return config.json's content."""
    if not folder.is_dir():
        raise NotMeasurable(
            f"{folder.name} is not a folder; the transformers backend loads a checkpoint folder"
        )
    names = [p.name for p in folder.iterdir()]
    pickles = pickle_files(names)
    if pickles:
        raise NotMeasurable(
            f"the folder holds pickle weights ({', '.join(pickles)}), which the grader never loads; "
            "save with safetensors (`save_pretrained` does by default) and remove them"
        )
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise NotMeasurable("config.json is missing; save the model with `save_pretrained(dir)`")
    if not any(name.endswith(".safetensors") for name in names):
        raise NotMeasurable(
            "no *.safetensors weights in the folder; save the model with `save_pretrained(dir)`"
        )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"config.json is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise ValueError("config.json is not a JSON object")
    if config.get("auto_map"):
        raise NotMeasurable(
            "config.json has `auto_map`: the model needs custom code from its repository, and the grader "
            "never runs submitted code (trust_remote_code stays off); use an architecture transformers ships"
        )
    return config


def _head_class(task: str | None, config: Mapping[str, Any]) -> Any:
    import transformers
    from transformers import AutoConfig

    if (
        task is None
    ):  # no task to pick a head: the class the checkpoint was saved from, if transformers has it
        architectures = config.get("architectures") or []
        named = getattr(transformers, str(architectures[0]), None) if architectures else None
        is_model = isinstance(named, type) and issubclass(named, transformers.PreTrainedModel)
        return named if is_model else transformers.AutoModel
    names = _task_heads(task)
    if not names:
        raise NotMeasurable(f"the transformers backend has no model head for the task {task!r}")
    model_type = config.get("model_type")
    try:
        config_class = type(AutoConfig.for_model(model_type)) if model_type else None
    except ValueError:
        raise NotMeasurable(
            f"model_type {model_type!r} is not an architecture this transformers "
            f"({transformers.__version__}) ships, and the grader never runs custom modelling code"
        ) from None
    for name in names:
        auto_class = getattr(transformers, name)
        if config_class is None or config_class in auto_class._model_mapping:
            return auto_class
    raise NotMeasurable(
        f"a {model_type!r} model has no {' / '.join(names)} head in transformers, "
        f"so it cannot run the {task} task"
    )


def _task_heads(task: str) -> tuple[str, ...]:
    """The AutoModelFor... classes that can carry the task's head, as the task declares them."""
    from grader.harness.tasks import TASKS

    return TASKS.load(task).model_heads if task in TASKS else ()


def _check_loading_info(loading: Mapping[str, Any], notes: list[str]) -> None:
    """Missing weights would be randomly initialised by transformers: a silent wrong model."""
    missing = sorted(loading.get("missing_keys") or [])
    mismatched = sorted(str(m) for m in (loading.get("mismatched_keys") or []))
    if missing or mismatched:
        problems = []
        if missing:
            more = " ..." if len(missing) > 4 else ""
            problems.append(f"missing {len(missing)} weights ({', '.join(missing[:4])}{more})")
        if mismatched:
            problems.append(f"{len(mismatched)} weights with the wrong shape ({', '.join(mismatched[:2])})")
        raise ValueError(
            "the checkpoint does not match its config: "
            + "; ".join(problems)
            + " — transformers would fill them with random values; save the whole model with save_pretrained"
        )
    unexpected = sorted(loading.get("unexpected_keys") or [])
    if unexpected:
        notes.append(f"ignored {len(unexpected)} unexpected checkpoint keys ({', '.join(unexpected[:3])})")


def _forward_inputs(model: Any) -> list[str]:
    """The tensors forward() takes that a task can feed, the model's main input first.

    Image models list an optional `attention_mask` (for masking patches) that no image processor
    produces; it is not an input of theirs in any sense a task cares about.
    """
    params = inspect.signature(model.forward).parameters
    main = getattr(model, "main_input_name", None)
    names = [name for name in INPUT_NAMES if name in params]
    if main == "pixel_values":
        names = [name for name in names if name not in ("attention_mask", "token_type_ids")]
    return sorted(names, key=lambda name: name != main)


def weight_bytes(model: Any) -> int:
    """Bytes of the weights as the model holds them now (after any transform).

    Parameters count once each (tied weights share one Parameter). Dynamically quantized Linear
    layers hold their weight packed, outside parameters(): count its int8 values, its scales and
    zero points, and its bias.
    """
    import torch

    total = sum(p.numel() * p.element_size() for p in model.parameters())
    for module in model.modules():
        packed = getattr(module, "_packed_params", None)
        if packed is None or not hasattr(packed, "_weight_bias"):
            continue
        weight, bias = packed._weight_bias()
        total += weight.numel() * weight.element_size()
        if weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
            scales, zeros = weight.q_per_channel_scales(), weight.q_per_channel_zero_points()
            total += scales.numel() * scales.element_size() + zeros.numel() * zeros.element_size()
        else:
            total += 16  # one float64 scale and one int64 zero point
        if bias is not None:
            total += bias.numel() * bias.element_size()
    return int(total)

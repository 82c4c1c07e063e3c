"""The demo's models: a tiny ViT trained on scikit-learn's digits, and its compressed variants.

Everything is built on the CPU from a fixed seed, in seconds, with no network:

- ``baseline``: a transformers ViT (8×8 grey images, 4×4 patches) trained on the train part of
  `grader.harness.data.digits_split` (the grader's ``digits-test`` set is the held-out part, so
  the accuracy the grader measures is honest), saved with ``save_pretrained`` (safetensors);
- ``fp16``: the same weights stored as fp16 safetensors;
- ``pruned``: 50 % of all Linear weights zeroed by global L1 magnitude (torch.nn.utils.prune),
  briefly fine-tuned under the mask, made permanent and stored dense (same file size);
- ``clustered``: every Linear weight k-means clustered to 16 values (scikit-learn), stored dense;
- ``student``: a smaller ViT distilled from the baseline's logits plus the labels;
- ``onnx``: the baseline exported with torch.onnx (dynamo exporter, dynamic batch axis);
- ``onnx-int8``: that export quantized with onnxruntime's ``quantize_dynamic``.

(The dynamic-INT8 PyTorch variant needs no files of its own: it is the baseline checkpoint with
``transform: dynamic-int8`` in the manifest, and the grader converts it at load time.)

Each variant is a folder with config.json and preprocessor_config.json next to its weights, so
the grader's image-classification task prepares the pixels exactly as training did. The models
are cached under ``<out>/cache/models-<key>``, where the key hashes the settings, the recipe
version and the library versions: a second run skips training, a changed recipe rebuilds.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import shutil
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

# Bump when the recipe changes in a way the settings do not show, so old caches are rebuilt.
RECIPE_VERSION = 1
IMAGE_SIZE = 8
PIXEL_MAX = 16.0  # digits pixels are 0..16
LABELS = [str(i) for i in range(10)]
REPORT_FILE = "factory.json"
ONNX_FILE = "model.onnx"

BASELINE = "baseline"
FP16 = "fp16"
PRUNED = "pruned"
CLUSTERED = "clustered"
STUDENT = "student"
ONNX = "onnx"
ONNX_INT8 = "onnx-int8"
VARIANTS = (BASELINE, FP16, PRUNED, CLUSTERED, STUDENT, ONNX, ONNX_INT8)

# step description → called with (description, steps done, steps in all)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class VitShape:
    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int


@dataclass(frozen=True)
class FactorySettings:
    """How the demo's models are made. Pure data: building happens in `build_models`."""

    seed: int = 0
    # One thread: the steps are a few milliseconds each, too small to split, and on a busy 2-core
    # machine two spinning threads made a step 10-20× slower (8.6 ms vs 112 ms per step, measured).
    threads: int = 1
    patch_size: int = 4
    teacher: VitShape = VitShape(hidden_size=64, layers=2, heads=4, intermediate_size=128)
    student: VitShape = VitShape(hidden_size=32, layers=2, heads=4, intermediate_size=64)
    epochs: int = 40
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    pixel_mean: float = 0.5  # after rescaling to 0..1
    pixel_std: float = 0.5
    prune_amount: float = 0.5
    prune_finetune_epochs: int = 6
    clusters: int = 16
    student_epochs: int = 40
    kd_temperature: float = 2.0
    kd_alpha: float = 0.7  # share of the distillation loss; the rest is cross-entropy on the labels
    onnx_opset: int = 20

    def cache_key(self) -> str:
        """12 hex digits over the settings, the recipe version and the libraries that shape the files."""
        payload = {"settings": asdict(self), "recipe": RECIPE_VERSION, "libraries": _library_versions()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


@dataclass
class FactoryReport:
    """What building found, written to ``factory.json`` last (its presence marks a complete cache)."""

    key: str
    settings: dict[str, Any]
    libraries: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)  # per step
    test_accuracy: dict[str, float] = field(default_factory=dict)  # torch/onnxruntime, held-out split
    params: dict[str, int] = field(default_factory=dict)
    zeros_fraction_linear: float | None = None  # pruned: zeros over all Linear weights
    max_unique_linear: int | None = None  # clustered: the most distinct values of any Linear weight

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> FactoryReport:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class ModelSet:
    root: Path  # the cache folder that holds one folder per variant
    report: FactoryReport
    reused: bool  # True when the cache was complete and nothing was trained

    def folder(self, variant: str) -> Path:
        if variant not in VARIANTS:
            raise KeyError(f"unknown demo model {variant!r}; the factory makes {', '.join(VARIANTS)}")
        return self.root / variant


def cache_dir(out_dir: Path, settings: FactorySettings) -> Path:
    return out_dir / "cache" / f"models-{settings.cache_key()}"


def build_models(
    out_dir: Path,
    settings: FactorySettings | None = None,
    *,
    fresh: bool = False,
    progress: Progress | None = None,
) -> ModelSet:
    """Build (or reuse from ``<out_dir>/cache``) every demo model; see the module docstring."""
    settings = settings or FactorySettings()
    root = cache_dir(out_dir, settings)
    if fresh and root.exists():
        shutil.rmtree(root)
    cached = _complete_cache(root)
    if cached is not None:
        if progress:
            progress("models reused from the cache", len(_STEPS), len(_STEPS))
        return ModelSet(root, cached, reused=True)
    if root.exists():  # an interrupted build: start over rather than trust half of it
        shutil.rmtree(root)
    staging = root.with_name(root.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    report = FactoryReport(key=settings.cache_key(), settings=asdict(settings), libraries=_library_versions())
    with _deterministic(settings), quiet_transformers():
        _Builder(settings, staging, report, _Digits.load(settings), progress).run()
    (staging / REPORT_FILE).write_text(report.to_json(), encoding="utf-8")
    staging.rename(root)  # the cache appears complete or not at all
    return ModelSet(root, report, reused=False)


def _complete_cache(root: Path) -> FactoryReport | None:
    """The report of a complete cache folder; None if anything is missing or unreadable."""
    try:
        report = FactoryReport.from_json((root / REPORT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return None
    return report if all((root / v).is_dir() for v in VARIANTS) else None


# --- building ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Digits:
    """The digits split as pixel_values: train on the train part, report accuracy on the test part."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray

    @classmethod
    def load(cls, settings: FactorySettings) -> _Digits:
        from grader.harness.data import digits_split

        # The grader's digits-test set is the test part of this very split: train on the rest only.
        train_x, train_y, test_x, test_y = digits_split(seed=settings.seed)
        return cls(pixels(train_x, settings), train_y, pixels(test_x, settings), test_y)


_STEPS = (
    "train the baseline ViT",
    "store an fp16 copy",
    "prune 50 % and fine-tune",
    "cluster weights (k-means)",
    "distil a smaller student",
    "export to ONNX",
    "quantize the ONNX export (dynamic INT8)",
)


class _Builder:
    def __init__(
        self,
        settings: FactorySettings,
        root: Path,
        report: FactoryReport,
        data: _Digits,
        progress: Progress | None,
    ) -> None:
        self.settings = settings
        self.root = root
        self.report = report
        self.data = data
        self.progress = progress
        self._done = 0

    def run(self) -> None:
        s = self.settings
        with self._step(BASELINE):
            write_preprocessor_config(self.root / BASELINE, s)
            baseline = self._train(new_vit(s.teacher, s), epochs=s.epochs)
            self._save(baseline, BASELINE)
        with self._step(FP16):
            self._save(copy.deepcopy(baseline).half(), FP16)
        with self._step(PRUNED):
            pruned = self._prune(copy.deepcopy(baseline))
            self._save(pruned, PRUNED)
            self.report.zeros_fraction_linear = zeros_fraction(linear_weights(pruned))
        with self._step(CLUSTERED):
            clustered = cluster_linear_weights(copy.deepcopy(baseline), s.clusters, s.seed)
            self._save(clustered, CLUSTERED)
            self.report.max_unique_linear = max(
                int(np.unique(w).size) for w in linear_weights(clustered).values()
            )
        with self._step(STUDENT):
            student = self._distil(baseline)
            self._save(student, STUDENT)
        with self._step(ONNX):
            export_onnx(baseline, self.root / ONNX / ONNX_FILE, s)
            self._copy_configs(BASELINE, ONNX)
            self.report.test_accuracy[ONNX] = onnx_accuracy(
                self.root / ONNX / ONNX_FILE, self.data.test_x, self.data.test_y
            )
        with self._step(ONNX_INT8):
            quantize_onnx(self.root / ONNX / ONNX_FILE, self.root / ONNX_INT8 / ONNX_FILE)
            self._copy_configs(BASELINE, ONNX_INT8)
            self.report.test_accuracy[ONNX_INT8] = onnx_accuracy(
                self.root / ONNX_INT8 / ONNX_FILE, self.data.test_x, self.data.test_y
            )

    @contextlib.contextmanager
    def _step(self, variant: str) -> Iterator[None]:
        title = _STEPS[VARIANTS.index(variant)]
        if self.progress:
            self.progress(title, self._done, len(_STEPS))
        started = time.perf_counter()
        yield
        self.report.seconds[variant] = round(time.perf_counter() - started, 3)
        self._done += 1
        if self.progress:
            self.progress(title, self._done, len(_STEPS))

    def _train(self, model: Any, *, epochs: int, lr: float | None = None, teacher_logits: Any = None) -> Any:
        s = self.settings
        return fit(
            model,
            self.data.train_x,
            self.data.train_y,
            epochs=epochs,
            batch_size=s.batch_size,
            lr=lr if lr is not None else s.learning_rate,
            weight_decay=s.weight_decay,
            seed=s.seed,
            teacher_logits=teacher_logits,
            temperature=s.kd_temperature,
            alpha=s.kd_alpha,
        )

    def _prune(self, model: Any) -> Any:
        import torch
        from torch.nn.utils import prune

        targets = [(m, "weight") for m in model.modules() if isinstance(m, torch.nn.Linear)]
        prune.global_unstructured(
            targets, pruning_method=prune.L1Unstructured, amount=self.settings.prune_amount
        )
        # A few epochs under the mask recover most of the accuracy the cut cost.
        self._train(model, epochs=self.settings.prune_finetune_epochs, lr=self.settings.learning_rate / 3)
        for module, name in targets:
            prune.remove(module, name)  # weight = weight_orig * mask, as a plain parameter
        return model

    def _distil(self, teacher: Any) -> Any:
        import torch

        s = self.settings
        with torch.no_grad():
            teacher_logits = teacher(pixel_values=torch.from_numpy(self.data.train_x)).logits
        torch.manual_seed(s.seed + 1)  # the student's own initialisation, independent of the teacher's
        return self._train(new_vit(s.student, s), epochs=s.student_epochs, teacher_logits=teacher_logits)

    def _save(self, model: Any, variant: str) -> None:
        folder = self.root / variant
        model.save_pretrained(str(folder))
        if variant != BASELINE:
            self._copy_configs(BASELINE, variant, only_preprocessor=True)
        self.report.test_accuracy[variant] = torch_accuracy(model, self.data.test_x, self.data.test_y)
        self.report.params[variant] = sum(int(p.numel()) for p in model.parameters())

    def _copy_configs(self, source: str, target: str, *, only_preprocessor: bool = False) -> None:
        names = (
            ["preprocessor_config.json"] if only_preprocessor else ["config.json", "preprocessor_config.json"]
        )
        (self.root / target).mkdir(parents=True, exist_ok=True)
        for name in names:
            shutil.copy2(self.root / source / name, self.root / target / name)


# --- the pieces, usable on their own (tests call them) ----------------------------------------


def preprocessor_config(settings: FactorySettings) -> dict[str, Any]:
    """ViTImageProcessor fields: 8×8 images are used as they are, 0..16 → 0..1 → normalized."""
    return {
        "image_processor_type": "ViTImageProcessor",
        "do_resize": False,
        "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        "do_rescale": True,
        "rescale_factor": 1.0 / PIXEL_MAX,
        "do_normalize": True,
        "image_mean": [settings.pixel_mean],
        "image_std": [settings.pixel_std],
    }


def write_preprocessor_config(folder: Path, settings: FactorySettings) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "preprocessor_config.json"
    path.write_text(json.dumps(preprocessor_config(settings), indent=2) + "\n", encoding="utf-8")
    return path


def pixels(images: np.ndarray, settings: FactorySettings) -> np.ndarray:
    """(n, 8, 8) digits 0..16 → float32 pixel_values (n, 1, 8, 8), as preprocessor_config says."""
    scaled = images.astype(np.float64) / PIXEL_MAX
    normalized = (scaled - settings.pixel_mean) / settings.pixel_std
    return normalized[:, None, :, :].astype(np.float32)


def new_vit(shape: VitShape, settings: FactorySettings) -> Any:
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(
        image_size=IMAGE_SIZE,
        patch_size=settings.patch_size,
        num_channels=1,
        hidden_size=shape.hidden_size,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.intermediate_size,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        # transformers' dataclass configs take num_labels through **kwargs (a property on
        # PreTrainedConfig, read in __post_init__), which the generated __init__'s type omits.
        num_labels=len(LABELS),  # type: ignore[call-arg]
        id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )
    return ViTForImageClassification(config)


def fit(
    model: Any,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    teacher_logits: torch.Tensor | None = None,
    temperature: float = 2.0,
    alpha: float = 0.7,
) -> Any:
    """AdamW with a one-cycle schedule; with ``teacher_logits``, distillation (Hinton et al.):
    alpha · T² · KL(teacher_T ‖ student_T) + (1 − alpha) · cross-entropy on the labels."""
    import torch
    import torch.nn.functional as F  # noqa: N812 - the usual name

    inputs, labels = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    steps_per_epoch = -(-len(inputs) // batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps_per_epoch)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for start in range(0, len(inputs), batch_size):
            batch = order[start : start + batch_size]
            logits = model(pixel_values=inputs[batch]).logits
            loss = F.cross_entropy(logits, labels[batch])
            if teacher_logits is not None:
                soft = F.kl_div(
                    F.log_softmax(logits / temperature, dim=-1),
                    F.softmax(teacher_logits[batch] / temperature, dim=-1),
                    reduction="batchmean",
                )
                loss = alpha * temperature**2 * soft + (1 - alpha) * loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    model.eval()
    return model


def torch_accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    import torch

    dtype = next(model.parameters()).dtype  # the fp16 model runs in fp16, as the grader runs it
    with torch.no_grad():
        logits = model(pixel_values=torch.from_numpy(x).to(dtype)).logits
    return float((logits.argmax(-1).numpy() == y).mean())


def linear_weights(model: Any) -> dict[str, np.ndarray]:
    import torch

    return {
        name: module.weight.detach().float().numpy()
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
    }


def zeros_fraction(weights: dict[str, np.ndarray]) -> float:
    total = sum(w.size for w in weights.values())
    return sum(int((w == 0).sum()) for w in weights.values()) / total


def cluster_linear_weights(model: Any, clusters: int, seed: int) -> Any:
    """Replace each Linear weight by its k-means centroids: at most ``clusters`` distinct values."""
    import torch
    from sklearn.cluster import KMeans

    for module in model.modules():
        if not isinstance(module, torch.nn.Linear):
            continue
        weight = module.weight.detach().numpy()
        values = weight.reshape(-1, 1).astype(np.float64)
        k = min(clusters, len(np.unique(values)))
        kmeans = KMeans(n_clusters=k, n_init=1, random_state=seed).fit(values)
        centroids = kmeans.cluster_centers_[:, 0].astype(np.float32)
        clustered = centroids[kmeans.labels_].reshape(weight.shape)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(clustered))
    return model


def logits_only(model: Any) -> Any:
    """The transformers model as a module with one named input and one output, for the export."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
            return self.inner(pixel_values=pixel_values).logits

    return LogitsOnly(model).eval()


def export_onnx(model: Any, path: Path, settings: FactorySettings) -> Path:
    """torch.onnx.export with the dynamo exporter, one self-contained file, dynamic batch axis."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, 1, IMAGE_SIZE, IMAGE_SIZE)  # 2, not 1: a batch of 1 would be specialised
    batch = torch.export.Dim("batch", min=1, max=4096)
    with _quiet_export():
        torch.onnx.export(
            logits_only(model),
            (example,),
            str(path),
            input_names=["pixel_values"],
            output_names=["logits"],
            dynamic_shapes={"pixel_values": {0: batch}},
            opset_version=settings.onnx_opset,
            dynamo=True,
            external_data=False,
            optimize=True,
            verbose=False,
        )
    _strip_node_metadata(path)
    return path


def _strip_node_metadata(path: Path) -> None:
    """The exporter annotates every node with its Python stack and module path: useful when
    debugging an export, but here it would take more bytes than the weights themselves."""
    import onnx

    proto = onnx.load(str(path))
    for node in proto.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    onnx.save(proto, str(path))


def quantize_onnx(source: Path, target: Path) -> Path:
    """Dynamic INT8 (weights int8 ahead of time, activations quantized per call), onnxruntime's way."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_export():
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    return target


def onnx_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    return float((onnx_logits(path, x).argmax(-1) == y).mean())


def onnx_logits(path: Path, x: np.ndarray, threads: int = 1) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"pixel_values": x})[0]


# --- process-wide settings, restored afterwards ------------------------------------------------


@contextlib.contextmanager
def _deterministic(settings: FactorySettings) -> Iterator[None]:
    """Fixed seeds, deterministic kernels and a fixed thread count while building; restored after."""
    import torch

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    state = torch.random.get_rng_state()
    torch.set_num_threads(settings.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(settings.seed)
    np.random.seed(settings.seed)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        torch.random.set_rng_state(state)


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """The exporters warn about things that do not concern a demo (torchvision absent, pre-processing
    advice); keep the demo's output to what it says itself."""
    loggers = [logging.getLogger(), logging.getLogger("torch.onnx"), logging.getLogger("onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# Loggers of libraries that transformers imports when they are installed (torchao comes with the
# quant extra) and that speak at import time about their own build: nothing the demo chose or a
# student can act on. Their level is set before the first import, which is when they speak.
IMPORT_TIME_LOGGERS = ("torchao", "torch.utils._pytree")


def quiet_import_time_loggers() -> None:
    for name in IMPORT_TIME_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """No per-file progress bars, info logs or deprecation warnings from the libraries while the
    demo works: it draws its own progress, and the warnings are about APIs it does not choose."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if enabled:
            hf_logging.enable_progress_bar()


def _library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "transformers", "safetensors", "onnx", "onnxscript", "onnxruntime", "scikit-learn"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out

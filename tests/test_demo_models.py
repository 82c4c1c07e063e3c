"""The demo's model factory keeps the demo's promises: an honest ≥ 85 % baseline, variants that
are what their names say (fp16 halves, INT8 quarters what it converts, pruned is half zeros and
dense, clustered has ≤ 16 values per matrix, the student is smaller), an ONNX export that
computes what the PyTorch model computes, and a cache that skips training the second time.

The models are built once per session (about half a minute) into a folder the end-to-end demo
test reuses.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from grader.demo.models import (
    BASELINE,
    CLUSTERED,
    FP16,
    ONNX,
    ONNX_FILE,
    ONNX_INT8,
    PRUNED,
    REPORT_FILE,
    STUDENT,
    VARIANTS,
    FactorySettings,
    ModelSet,
    build_models,
    cache_dir,
    onnx_logits,
    pixels,
)
from grader.demo.run import MARKER
from grader.harness.data import digits_split

SHARED = "grader-demo-shared"  # the same folder in tests/test_demo.py: one build per session


def shared_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.getbasetemp() / SHARED
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()  # a folder `grader demo` may reuse
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> ModelSet:
    return build_models(shared_out(tmp_path_factory))


def tensors(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    with safe_open(str(folder / "model.safetensors"), framework="np") as handle:
        for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
            out[key] = handle.get_tensor(key)
    return out


def dtypes(folder: Path) -> set[str]:
    header_len = int.from_bytes((folder / "model.safetensors").read_bytes()[:8], "little")
    header = json.loads((folder / "model.safetensors").read_bytes()[8 : 8 + header_len])
    return {v["dtype"] for k, v in header.items() if k != "__metadata__"}


def linear_weight_names(folder: Path) -> list[str]:
    """2-D weights other than the patch embedding (a Conv2d, 4-D): the Linear layers."""
    return [k for k, v in tensors(folder).items() if k.endswith(".weight") and v.ndim == 2]


def held_out_accuracy(folder: Path) -> float:
    """Load the saved checkpoint as anyone would, prepare pixels as the grader does, score the test split."""
    import torch
    from transformers import ViTForImageClassification

    from grader.harness.tasks.vision import ImagePreprocessor

    _, _, test_x, test_y = digits_split(seed=0)
    model = ViTForImageClassification.from_pretrained(str(folder)).eval()
    batch = ImagePreprocessor(folder)(list(test_x))
    with torch.no_grad():
        logits = model(pixel_values=torch.from_numpy(batch).to(model.dtype)).logits
    return float((logits.float().argmax(-1).numpy() == test_y).mean())


def test_every_variant_is_a_complete_model_folder(models: ModelSet) -> None:
    for variant in VARIANTS:
        names = {p.name for p in models.folder(variant).iterdir()}
        assert {"config.json", "preprocessor_config.json"} <= names, variant
        assert "model.safetensors" in names or ONNX_FILE in names, variant
        assert not any(n.endswith((".bin", ".pt", ".pkl")) for n in names), "never pickle weights"


def test_baseline_is_honestly_accurate_on_the_held_out_split(models: ModelSet) -> None:
    accuracy = held_out_accuracy(models.folder(BASELINE))
    assert accuracy >= 0.85
    assert accuracy == pytest.approx(models.report.test_accuracy[BASELINE], abs=0.005)


def test_training_never_sees_the_grader_eval_set() -> None:
    train_x, _, test_x, _ = digits_split(seed=0)
    train = {x.tobytes() for x in train_x}
    overlap = [x for x in test_x if x.tobytes() in train]
    # digits has a few byte-identical images written by different people; no more than those.
    assert len(overlap) <= 5
    assert len(train_x) + len(test_x) == 1797


def test_preprocessor_config_matches_the_pixels_training_used(models: ModelSet) -> None:
    from grader.harness.tasks.vision import ImagePreprocessor

    _, _, test_x, _ = digits_split(seed=0)
    grader_pixels = ImagePreprocessor(models.folder(BASELINE))(list(test_x[:50]))
    np.testing.assert_allclose(grader_pixels, pixels(test_x[:50], FactorySettings()), atol=1e-6)


def test_fp16_stores_every_tensor_in_half_the_bytes(models: ModelSet) -> None:
    assert dtypes(models.folder(FP16)) == {"F16"}
    assert dtypes(models.folder(BASELINE)) == {"F32"}
    fp32 = (models.folder(BASELINE) / "model.safetensors").stat().st_size
    fp16 = (models.folder(FP16) / "model.safetensors").stat().st_size
    assert fp16 / fp32 == pytest.approx(0.5, abs=0.01)  # the JSON header is the same size in both
    assert held_out_accuracy(models.folder(FP16)) >= 0.85


def test_dynamic_int8_shrinks_what_it_converts_to_a_quarter(models: ModelSet) -> None:
    """The grader quantizes the baseline's Linear weights at load time: each goes from 4 bytes to 1."""
    from grader.harness.backends.base import LoadSpec
    from grader.harness.backends.transformers import TransformersBackend

    folder = models.folder(BASELINE)
    weights = tensors(folder)
    linear = sum(weights[name].size for name in linear_weight_names(folder))
    total = sum(t.size for t in weights.values())
    spec = LoadSpec(
        model_dir=folder, format="safetensors", transform="dynamic-int8", task="image-classification"
    )
    with TransformersBackend(spec) as backend:
        as_run = backend.info.as_run_bytes
    expected = linear * 1 + (total - linear) * 4
    assert as_run is not None
    assert as_run == pytest.approx(expected, rel=0.02)  # plus a scale and zero point per layer
    assert as_run < 0.3 * total * 4


def test_onnx_int8_quantizes_the_matrices_and_shrinks_by_what_it_converted(models: ModelSet) -> None:
    import onnx
    from onnx import numpy_helper

    fp32 = onnx.load(str(models.folder(ONNX) / ONNX_FILE))
    int8 = onnx.load(str(models.folder(ONNX_INT8) / ONNX_FILE))
    quantized = [t for t in int8.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    converted = sum(numpy_helper.to_array(t).size for t in quantized)
    assert converted > 60_000  # every Linear weight matrix of the 2-layer ViT
    saved = (models.folder(ONNX) / ONNX_FILE).stat().st_size - (
        models.folder(ONNX_INT8) / ONNX_FILE
    ).stat().st_size
    assert saved == pytest.approx(3 * converted, rel=0.1)  # 4 bytes → 1 byte each, give or take the graph
    float_before = sum(numpy_helper.to_array(t).nbytes for t in fp32.graph.initializer)
    assert float_before > 4 * converted


def test_pruned_weights_are_half_zeros_and_stored_dense(models: ModelSet) -> None:
    folder = models.folder(PRUNED)
    weights = tensors(folder)
    linear = [weights[name] for name in linear_weight_names(folder)]
    zeros = sum(int((w == 0).sum()) for w in linear) / sum(w.size for w in linear)
    assert zeros == pytest.approx(0.5, abs=0.01)
    assert not any(k.endswith(("_orig", "_mask")) for k in weights), "pruning made permanent"
    same_size = (models.folder(BASELINE) / "model.safetensors").stat().st_size
    assert (folder / "model.safetensors").stat().st_size == same_size
    assert held_out_accuracy(folder) >= 0.85


def test_clustered_matrices_hold_at_most_16_values(models: ModelSet) -> None:
    folder = models.folder(CLUSTERED)
    weights = tensors(folder)
    baseline = tensors(models.folder(BASELINE))
    names = linear_weight_names(folder)
    assert len(names) >= 13  # q, k, v, o, fc1, fc2 per layer, and the classifier
    for name in names:
        assert 1 < np.unique(weights[name]).size <= 16, name
        assert np.unique(baseline[name]).size > 256, "the baseline itself is not clustered"
    untouched = [k for k in weights if k not in names]
    for name in untouched:
        np.testing.assert_array_equal(weights[name], baseline[name])
    assert held_out_accuracy(folder) >= 0.85


def test_student_is_smaller_than_its_teacher_and_still_accurate(models: ModelSet) -> None:
    teacher = json.loads((models.folder(BASELINE) / "config.json").read_text())
    student = json.loads((models.folder(STUDENT) / "config.json").read_text())
    assert student["hidden_size"] < teacher["hidden_size"]
    assert models.report.params[STUDENT] < models.report.params[BASELINE] / 2
    student_bytes = (models.folder(STUDENT) / "model.safetensors").stat().st_size
    assert student_bytes < (models.folder(BASELINE) / "model.safetensors").stat().st_size / 2
    assert held_out_accuracy(models.folder(STUDENT)) >= 0.85


def test_onnx_export_computes_the_pytorch_logits_at_any_batch_size(models: ModelSet) -> None:
    import torch
    from transformers import ViTForImageClassification

    _, _, test_x, _ = digits_split(seed=0)
    model = ViTForImageClassification.from_pretrained(str(models.folder(BASELINE))).eval()
    for batch in (1, 7):
        x = pixels(test_x[:batch], FactorySettings())
        with torch.no_grad():
            expected = model(pixel_values=torch.from_numpy(x)).logits.numpy()
        np.testing.assert_allclose(onnx_logits(models.folder(ONNX) / ONNX_FILE, x), expected, atol=1e-4)
    quantized = onnx_logits(models.folder(ONNX_INT8) / ONNX_FILE, pixels(test_x, FactorySettings()))
    _, _, _, test_y = digits_split(seed=0)
    assert float((quantized.argmax(-1) == test_y).mean()) >= 0.85


def test_second_build_reuses_the_cache_without_training(models: ModelSet, tmp_path_factory) -> None:
    files = sorted(p for p in models.root.rglob("*") if p.is_file())
    stamps = {p: p.stat().st_mtime_ns for p in files}
    steps: list[str] = []
    again = build_models(
        shared_out(tmp_path_factory), progress=lambda message, done, total: steps.append(message)
    )
    assert again.reused
    assert again.root == models.root
    assert steps == ["models reused from the cache"]
    assert {p: p.stat().st_mtime_ns for p in files} == stamps, "no file was written again"
    assert again.report.test_accuracy == models.report.test_accuracy


def test_cache_key_follows_the_settings(tmp_path: Path) -> None:
    settings = FactorySettings()
    assert settings.cache_key() == FactorySettings().cache_key()
    assert replace(settings, epochs=settings.epochs + 1).cache_key() != settings.cache_key()
    assert cache_dir(tmp_path, settings).name == f"models-{settings.cache_key()}"


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != REPORT_FILE  # the report holds timings
    }


def test_an_interrupted_build_is_rebuilt_and_a_fresh_build_is_reproducible(tmp_path: Path) -> None:
    """A cache folder without its report (the build died half way) is built again, not reused;
    `fresh` trains again even over a complete cache; and two builds from the same seed write the
    same bytes, ONNX exports included."""
    settings = replace(FactorySettings(), epochs=2, student_epochs=2, prune_finetune_epochs=1)
    root = cache_dir(tmp_path, settings)
    (root / BASELINE).mkdir(parents=True)
    (root / BASELINE / "model.safetensors").write_bytes(b"half a file")
    rebuilt = build_models(tmp_path, settings)
    assert not rebuilt.reused
    assert (root / REPORT_FILE).is_file()
    assert dtypes(rebuilt.folder(BASELINE)) == {"F32"}
    first = digests(root)
    assert len(first) == 3 * len(VARIANTS)
    again = build_models(tmp_path, settings, fresh=True)
    assert not again.reused
    assert digests(root) == first

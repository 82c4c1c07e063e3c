"""Image preprocessing from preprocessor_config.json, cross-checked with transformers' own PIL
image processors, plus the channel rules and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_tasks_support import save_config, save_preprocessor

from grader.harness.tasks.base import TaskError
from grader.harness.tasks.vision import ImagePreprocessor

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (10, 13, 3), dtype=np.uint8)
GREY = RNG.integers(0, 256, (9, 6), dtype=np.uint8)


def processor_folder(tmp_path: Path, channels: int, **preprocessor: object) -> Path:
    save_config(tmp_path, num_channels=channels)
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(preprocessor), encoding="utf-8")
    return tmp_path


def test_resize_rescale_normalize_match_vit_image_processor(tmp_path: Path) -> None:
    from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

    settings = {
        "do_resize": True,
        "size": {"height": 8, "width": 8},
        "resample": 2,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.4, 0.3],
        "image_std": [0.2, 0.3, 0.4],
    }
    ours = ImagePreprocessor(processor_folder(tmp_path, 3, **settings))([RGB, RGB[::-1]])
    theirs = ViTImageProcessorPil(**settings)(images=[RGB, RGB[::-1]], return_tensors="np")["pixel_values"]
    assert ours.shape == theirs.shape == (2, 3, 8, 8) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_shortest_edge_and_center_crop_match_clip_image_processor(tmp_path: Path) -> None:
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    settings = {
        "do_resize": True,
        "size": {"shortest_edge": 7},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": 6, "width": 6},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.48, 0.45, 0.41],
        "image_std": [0.27, 0.26, 0.28],
    }
    ours = ImagePreprocessor(processor_folder(tmp_path, 3, **settings))([RGB])
    theirs = CLIPImageProcessorPil(**settings)(images=[RGB], return_tensors="np")["pixel_values"]
    assert ours.shape == theirs.shape == (1, 3, 6, 6)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_grey_to_three_channels_and_colour_to_one(tmp_path: Path) -> None:
    from PIL import Image

    plain = {"do_resize": False, "do_rescale": False, "do_normalize": False}
    three = ImagePreprocessor(processor_folder(tmp_path / "three", 3, **plain)).one(GREY)
    assert three.shape == (3, 9, 6) and all((three[c] == GREY).all() for c in range(3))
    one = ImagePreprocessor(processor_folder(tmp_path / "one", 1, **plain)).one(RGB)
    assert one.shape == (1, 10, 13)
    np.testing.assert_array_equal(one[0], np.asarray(Image.fromarray(RGB).convert("L")))  # PIL's luminance
    rgba = np.dstack([RGB, np.full(RGB.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(
        ImagePreprocessor(processor_folder(tmp_path / "rgba", 3, **plain)).one(rgba), RGB.transpose(2, 0, 1)
    )


def test_float_digits_resize_in_float(tmp_path: Path) -> None:
    from PIL import Image

    digit = RNG.integers(0, 17, (8, 8)).astype(np.float32)
    save_config(tmp_path, num_channels=1)
    save_preprocessor(tmp_path, size=16, rescale=1 / 16, mean=None, std=None)
    out = ImagePreprocessor(tmp_path).one(digit)
    expected = np.asarray(Image.fromarray(digit, mode="F").resize((16, 16), resample=2)) / 16
    assert out.shape == (1, 16, 16)
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)
    assert out.min() >= 0 and out.max() <= 1.0  # 0..16 digits stay in range: no uint8 clipping


def test_normalisation_that_does_not_fit_the_channels(tmp_path: Path) -> None:
    folder = processor_folder(
        tmp_path, 1, size={"height": 8, "width": 8}, image_mean=[0.5, 0.5, 0.5], image_std=[0.5] * 3
    )
    with pytest.raises(TaskError) as caught:
        ImagePreprocessor(folder)
    finding = caught.value.findings[0]
    assert (
        finding.code == "Q003" and finding.location.field == "image_mean" and "1-channel" in finding.message
    )


def test_unreadable_size_and_wrong_output_size(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="size the grader cannot read"):
        ImagePreprocessor(processor_folder(tmp_path / "a", 1, size={"longest_edge": 8}))
    save_config(tmp_path / "b", num_channels=1, image_size=8)
    (tmp_path / "b" / "preprocessor_config.json").write_text(
        json.dumps({"do_resize": False}), encoding="utf-8"
    )
    with pytest.raises(TaskError) as caught:
        ImagePreprocessor(tmp_path / "b").one(np.zeros((10, 10), np.uint8))
    finding = caught.value.findings[0]
    assert finding.code == "Q006" and "10×10" in finding.message and "8×8" in finding.message

"""Image preprocessing from ``preprocessor_config.json``, in numpy and PIL.

The same code prepares the pixels for every backend, so a model exported to ONNX or TensorRT
sees exactly what its PyTorch original saw. Steps, in Hugging Face's order: channels → resize →
center crop → rescale → normalize → channels first.

Keys the file leaves out take these defaults: ``do_resize`` is true when ``size`` is given,
``resample`` 2 (bilinear), ``do_center_crop`` false, ``do_rescale`` true with
``rescale_factor`` 1/255, ``do_normalize`` true when ``image_mean`` and ``image_std`` are given.
The channel count is config.json's ``num_channels``, else the length of ``image_mean``, else 3.

Channels: a grey image goes to a 3-channel model repeated; a colour image goes to a 1-channel
model as luminance (ITU-R 601: 0.299 R + 0.587 G + 0.114 B, as PIL's "L"); alpha is dropped.
Resizing: uint8 images are resized as 8-bit PIL images (as Hugging Face's processors do), other
images channel by channel as 32-bit float PIL images, so digits with values 0..16 stay exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grader.harness.tasks.common import read_model_json, task_error

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


@dataclass(frozen=True)
class Resize:
    height: int | None = None
    width: int | None = None
    shortest_edge: int | None = None


def _size(value: Any, key: str, file: Path) -> Resize:
    if isinstance(value, int):
        return Resize(height=value, width=value)
    if isinstance(value, dict):
        if isinstance(value.get("height"), int) and isinstance(value.get("width"), int):
            return Resize(height=value["height"], width=value["width"])
        if isinstance(value.get("shortest_edge"), int):
            return Resize(shortest_edge=value["shortest_edge"])
    raise task_error(
        "Q003",
        f"preprocessor_config.json has a {key} the grader cannot read",
        file=file,
        field=key,
        expected='{"height": H, "width": W}, {"shortest_edge": N} or an integer',
        found=repr(value)[:80],
        hint="write the size as height and width",
    )


def _per_channel(value: Any, key: str, channels: int, file: Path) -> np.ndarray:
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if values.ndim != 1 or values.size not in (1, channels):
        raise task_error(
            "Q003",
            f"preprocessor_config.json {key} does not fit a {channels}-channel model",
            file=file,
            field=key,
            expected=f"one value, or {channels} values (one per channel)",
            found=repr(value)[:80],
            hint="give one value per input channel (num_channels in config.json)",
        )
    return np.broadcast_to(values, (channels,)).reshape(channels, 1, 1)


class ImagePreprocessor:
    """images (H, W) or (H, W, C), any numeric dtype → float32 pixel_values [B, C, H, W]."""

    def __init__(self, model_dir: Path) -> None:
        self.file = model_dir / "preprocessor_config.json"
        config = read_model_json(
            model_dir,
            "preprocessor_config.json",
            required=True,
            why="it says how to resize and scale the images",
        )
        model_config = read_model_json(model_dir, "config.json")
        mean, std = config.get("image_mean"), config.get("image_std")
        channels = model_config.get("num_channels")
        if not isinstance(channels, int):
            channels = len(mean) if isinstance(mean, list) and mean else 3
        self.channels: int = channels
        size = config.get("size")
        self.resize = (
            _size(size, "size", self.file) if config.get("do_resize", size is not None) and size else None
        )
        self.resample = int(config.get("resample", 2))
        crop = config.get("crop_size")
        self.crop = (
            _size(crop, "crop_size", self.file) if config.get("do_center_crop", False) and crop else None
        )
        self.rescale = (
            float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else None
        )
        normalize = config.get("do_normalize", mean is not None and std is not None)
        self.mean = (
            _per_channel(mean, "image_mean", channels, self.file) if normalize and mean is not None else None
        )
        self.std = (
            _per_channel(std, "image_std", channels, self.file) if normalize and std is not None else None
        )
        image_size = model_config.get("image_size")
        self.model_size = self._model_size(image_size)

    def _model_size(self, image_size: Any) -> tuple[int, int] | None:
        """(height, width) of the model's input when the config fixes it."""
        for fixed in (self.crop, self.resize):
            if fixed is not None and fixed.height is not None and fixed.width is not None:
                return fixed.height, fixed.width
        if isinstance(image_size, int):
            return image_size, image_size
        if isinstance(image_size, list) and len(image_size) == 2:
            return int(image_size[0]), int(image_size[1])
        return None

    def __call__(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return np.stack([self.one(image) for image in images]).astype(np.float32)

    def one(self, image: np.ndarray) -> np.ndarray:
        pixels = self._channels(np.asarray(image))
        if self.resize is not None:
            pixels = self._resize(pixels, self._target(pixels.shape[:2], self.resize))
        if self.crop is not None:
            pixels = _center_crop(pixels, self.crop.height or 0, self.crop.width or 0)
        out = pixels.astype(np.float64).transpose(2, 0, 1)  # channels first
        if self.rescale is not None:
            out = out * self.rescale
        if self.mean is not None and self.std is not None:
            out = (out - self.mean) / self.std
        if self.model_size is not None and out.shape[1:] != self.model_size:
            raise task_error(
                "Q006",
                f"the images come out {out.shape[1]}×{out.shape[2]}, but the model takes "
                f"{self.model_size[0]}×{self.model_size[1]}",
                file=self.file,
                field="size",
                expected=f"preprocessing that yields {self.model_size[0]}×{self.model_size[1]} images",
                found=f"do_resize: {self.resize is not None}, size: {self.resize}",
                hint="set do_resize: true and size to the model's input size",
            )
        return out.astype(np.float32)

    def _channels(self, image: np.ndarray) -> np.ndarray:
        """→ (H, W, self.channels), same dtype where possible."""
        if image.ndim == 2:
            image = image[:, :, None]
        if image.ndim != 3 or image.shape[2] not in (1, 2, 3, 4):
            raise task_error(
                "Q006",
                "an eval image has a shape the grader cannot feed to a model",
                file=self.file,
                expected="(H, W) or (H, W, C) with 1 to 4 channels, channels last",
                found=f"shape {image.shape}",
                hint="store images channels-last (as image files are)",
            )
        if image.shape[2] in (2, 4):  # grey + alpha, RGBA: drop alpha
            image = image[:, :, : image.shape[2] - 1]
        have = image.shape[2]
        if have == self.channels:
            return image
        if have == 1:
            return np.repeat(image, self.channels, axis=2)
        if self.channels == 1:
            luma = image.astype(np.float64) @ _LUMA
            if image.dtype == np.uint8:
                return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, :, None]
            return luma.astype(np.float32)[:, :, None]
        raise task_error(
            "Q006",
            f"cannot turn a {have}-channel image into {self.channels} channels",
            file=self.file,
            expected="1- or 3-channel images",
            found=f"{have} channels",
        )

    def _target(self, shape: tuple[int, int], resize: Resize) -> tuple[int, int]:
        height, width = shape
        if resize.height is not None and resize.width is not None:
            return resize.height, resize.width
        edge = resize.shortest_edge or min(height, width)
        if height <= width:
            return edge, int(edge * width / height)
        return int(edge * height / width), edge

    def _resize(self, pixels: np.ndarray, target: tuple[int, int]) -> np.ndarray:
        from PIL import Image

        if pixels.shape[:2] == target:
            return pixels
        height, width = target
        if pixels.dtype == np.uint8 and pixels.shape[2] in (1, 3):
            mode_image = Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels)
            resized = np.asarray(mode_image.resize((width, height), resample=self.resample))
            return resized[:, :, None] if resized.ndim == 2 else resized
        planes = [
            np.asarray(
                Image.fromarray(pixels[:, :, c].astype(np.float32), mode="F").resize(
                    (width, height), resample=self.resample
                )
            )
            for c in range(pixels.shape[2])
        ]
        return np.stack(planes, axis=2)

    def input_range(self) -> float:
        """The pixel value that rescales to 1.0 (255 for 1/255, 16 for the demo's digits)."""
        return 1.0 / self.rescale if self.rescale else 1.0

    def latency_batch(self, batch_size: int, seed: int = 0) -> np.ndarray:
        """A fixed seeded image at the model's input size, preprocessed, repeated ``batch_size`` times."""
        if self.model_size is None:
            raise task_error(
                "Q003",
                "the model's input size is unknown",
                file=self.file,
                field="size",
                expected="size (or crop_size) in preprocessor_config.json, or image_size in config.json",
                hint="save the image processor with the model",
            )
        height, width = self.model_size
        rng = np.random.default_rng(seed)
        image = (rng.random((height, width, self.channels)) * self.input_range()).astype(np.float32)
        one = self.one(image)
        return np.repeat(one[None], batch_size, axis=0)


def _center_crop(pixels: np.ndarray, height: int, width: int) -> np.ndarray:
    """Crop the middle (Hugging Face's rounding: top = (H - h) // 2); pad with zeros if smaller."""
    have_h, have_w = pixels.shape[:2]
    if have_h < height or have_w < width:
        padded = np.zeros((max(height, have_h), max(width, have_w), pixels.shape[2]), dtype=pixels.dtype)
        top, left = (padded.shape[0] - have_h) // 2, (padded.shape[1] - have_w) // 2
        padded[top : top + have_h, left : left + have_w] = pixels
        pixels = padded
        have_h, have_w = pixels.shape[:2]
    top, left = (have_h - height) // 2, (have_w - width) // 2
    return pixels[top : top + height, left : left + width]

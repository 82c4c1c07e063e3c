"""Synthetic scenes of simple shapes with exact boxes, for the object-detection eval set
`shapes-test` (and for teams to train a detector on).

A scene is a ``WIDTH`` × ``HEIGHT`` RGB image with a flat grey background, divided into a
``GRID_COLUMNS`` × ``GRID_ROWS`` grid of ``CELL``-pixel cells; each cell holds at most one filled
shape (a square, a circle or a triangle: the three classes), drawn without anti-aliasing in its
class's colour with a small per-object jitter, at least ``MARGIN`` pixels inside its cell, so
shapes never touch. A box is the exact pixel extent of its shape: COCO ``[x, y, width, height]``
with x, y the top-left pixel's edge, so a box of a 1-pixel object is ``[x, y, 1, 1]``.

Everything comes from ``random.Random(seed)`` (its stream is fixed across Python versions) and
integer numpy arithmetic, so the same seed gives the same pixels on every machine. The eval set is
``scenes(EVAL_COUNT, EVAL_SEED)``; ``training_scenes`` draws from other seeds::

    python -m grader.data.shapes --write              # rewrite grader/data/shapes-test/ (then SHA256SUMS)
    python -m grader.data.shapes --check              # the shipped pixels and boxes == the generator's
    python -m grader.data.shapes --train DIR --count 2000   # a training set, COCO and YOLO labels

PNG bytes depend on the zlib that compresses them, so SHA256SUMS pins the shipped files and
``--check`` (tests/test_object_detection.py) compares decoded pixels and annotations.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).resolve().parent
EVAL_NAME = "shapes-test"
ANNOTATIONS = "annotations.json"
CLASSES = ("square", "circle", "triangle")
# The class colours (RGB); each object's is jittered by up to ±JITTER per channel.
COLOURS = {"square": (215, 45, 45), "circle": (40, 150, 60), "triangle": (45, 70, 210)}
JITTER = 12
WIDTH, HEIGHT = 144, 96
CELL = 48
GRID_COLUMNS, GRID_ROWS = WIDTH // CELL, HEIGHT // CELL
MARGIN = 3  # pixels between a shape and its cell's border
MIN_SIZE, MAX_SIZE = 10, CELL - 2 * MARGIN
MIN_OBJECTS, MAX_OBJECTS = 2, 5
EVAL_SEED = 2026
EVAL_COUNT = 32
TRAINING_SEED = 7_000_000  # training seeds are TRAINING_SEED + i: never the eval scenes' seed


@dataclass(frozen=True)
class Shape:
    label: str
    box: tuple[int, int, int, int]  # x, y, width, height: the pixel extent


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # (HEIGHT, WIDTH, 3) uint8
    shapes: tuple[Shape, ...]


def _mask(label: str, size: int) -> np.ndarray:
    """A ``size`` × ``size`` boolean mask of the shape, touching all four sides of its square
    (a triangle: apex at the top middle, base along the bottom)."""
    ys, xs = np.mgrid[0:size, 0:size]
    if label == "square":
        return np.ones((size, size), dtype=bool)
    if label == "circle":
        # twice the coordinates, so the centre (size - 1) / 2 stays an integer comparison
        dx, dy = 2 * xs - (size - 1), 2 * ys - (size - 1)
        return dx * dx + dy * dy <= size * size
    # triangle: a half-width of (y + 1) / 2 around the centre column, in doubled coordinates
    return np.abs(2 * xs - (size - 1)) <= ys + 1


def _extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)


def scene(seed: int) -> Scene:
    """One scene, decided entirely by ``seed``."""
    rng = random.Random(seed)
    grey = rng.randint(170, 245)
    image = np.full((HEIGHT, WIDTH, 3), grey, dtype=np.uint8)
    cells = [(column, row) for row in range(GRID_ROWS) for column in range(GRID_COLUMNS)]
    chosen = sorted(rng.sample(cells, rng.randint(MIN_OBJECTS, MAX_OBJECTS)), key=lambda c: (c[1], c[0]))
    shapes = []
    for column, row in chosen:
        label = rng.choice(CLASSES)
        size = rng.randint(MIN_SIZE, MAX_SIZE)
        left = column * CELL + rng.randint(MARGIN, CELL - MARGIN - size)
        top = row * CELL + rng.randint(MARGIN, CELL - MARGIN - size)
        colour = [min(255, max(0, c + rng.randint(-JITTER, JITTER))) for c in COLOURS[label]]
        mask = _mask(label, size)
        image[top : top + size, left : left + size][mask] = colour
        x, y, w, h = _extent(mask)
        shapes.append(Shape(label, (left + x, top + y, w, h)))
    return Scene(image, tuple(shapes))


def scenes(count: int, seed: int) -> list[Scene]:
    """``count`` scenes; scene i comes from seed ``seed * 1000 + i``."""
    return [scene(seed * 1000 + i) for i in range(count)]


def eval_scenes() -> list[Scene]:
    return scenes(EVAL_COUNT, EVAL_SEED)


def training_scenes(count: int, start: int = 0) -> list[Scene]:
    """Scenes for training a detector, disjoint from the eval set's seeds."""
    return [scene(TRAINING_SEED + start + i) for i in range(count)]


def coco(scene_list: list[Scene], names: list[str]) -> dict[str, Any]:
    """COCO-style annotations: images, annotations (boxes in pixels) and categories (ids 1..C)."""
    category = {label: index + 1 for index, label in enumerate(CLASSES)}
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, (item, name) in enumerate(zip(scene_list, names, strict=True), start=1):
        images.append({"id": image_id, "file_name": name, "width": WIDTH, "height": HEIGHT})
        for shape in item.shapes:
            x, y, w, h = shape.box
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category[shape.label],
                    "bbox": [x, y, w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    categories = [{"id": category[label], "name": label} for label in CLASSES]
    return {"images": images, "annotations": annotations, "categories": categories}


def annotations_bytes(scene_list: list[Scene], names: list[str]) -> bytes:
    return (json.dumps(coco(scene_list, names), indent=1) + "\n").encode("utf-8")


def file_names(count: int) -> list[str]:
    return [f"{i:04d}.png" for i in range(1, count + 1)]


def write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG", optimize=True)


def write_set(folder: Path, scene_list: list[Scene], *, yolo_labels: bool = False) -> None:
    """The images, annotations.json, and (for training with ultralytics) one YOLO label file per
    image: ``class cx cy w h`` normalised to the image size, classes 0-based in CLASSES order."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    names = file_names(len(scene_list))
    for item, name in zip(scene_list, names, strict=True):
        write_png(folder / name, item.image)
        if yolo_labels:
            lines = [
                f"{CLASSES.index(s.label)} {(s.box[0] + s.box[2] / 2) / WIDTH:.6f} "
                f"{(s.box[1] + s.box[3] / 2) / HEIGHT:.6f} {s.box[2] / WIDTH:.6f} {s.box[3] / HEIGHT:.6f}\n"
                for s in item.shapes
            ]
            (folder / name).with_suffix(".txt").write_text("".join(lines), encoding="utf-8")
    (folder / ANNOTATIONS).write_bytes(annotations_bytes(scene_list, names))


def check(folder: Path = DATA_DIR / EVAL_NAME) -> list[str]:
    """Problems: shipped images whose pixels, or an annotations file whose text, differ from the
    generator's."""
    from PIL import Image

    expected = eval_scenes()
    names = file_names(len(expected))
    problems = []
    annotations = folder / ANNOTATIONS
    if not annotations.is_file() or annotations.read_bytes() != annotations_bytes(expected, names):
        problems.append(f"{EVAL_NAME}/{ANNOTATIONS}: differs from what the generator makes")
    for item, name in zip(expected, names, strict=True):
        path = folder / name
        if not path.is_file():
            problems.append(f"{EVAL_NAME}/{name}: missing")
            continue
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        if not np.array_equal(pixels, item.image):
            problems.append(f"{EVAL_NAME}/{name}: pixels differ from what the generator makes")
    shipped = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    problems += [
        f"{EVAL_NAME}/{n}: not made by the generator" for n in shipped if n not in {*names, ANNOTATIONS}
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.data.shapes", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help=f"rewrite grader/data/{EVAL_NAME}/")
    action.add_argument("--check", action="store_true", help="compare the shipped set with the generator")
    action.add_argument("--train", type=Path, metavar="DIR", help="write a training set into DIR")
    parser.add_argument("--count", type=int, default=1000, help="training scenes (with --train)")
    args = parser.parse_args(argv)
    if args.write:
        write_set(DATA_DIR / EVAL_NAME, eval_scenes())
        print(f"wrote {EVAL_COUNT} scenes to {EVAL_NAME}/; now run `python -m grader.data.synth --write`")
        return 0
    if args.train:
        write_set(args.train, training_scenes(args.count), yolo_labels=True)
        print(f"wrote {args.count} training scenes to {args.train}")
        return 0
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{EVAL_NAME} matches the generator" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

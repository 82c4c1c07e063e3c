"""COCO-style detection annotations (a folder of images with ``annotations.json``) as eval items.

Each image of ``images`` becomes one item, in the file's order: ``{"image": file_name, "boxes":
[[x, y, width, height], ...], "labels": [category name, ...]}``, its objects in the order of
``annotations``. Crowd annotations (``iscrowd: 1``) are left out: the object-detection task
scores plain boxes. Problems raise ValueError with a sentence the loader puts in its finding.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# The annotation file names a COCO folder may use (Roboflow writes the second).
COCO_FILES = ("annotations.json", "_annotations.coco.json")


def coco_file(folder: Path) -> Path | None:
    return next((folder / name for name in COCO_FILES if (folder / name).is_file()), None)


def coco_records(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """(items, category names in id order) of a COCO annotations file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "categories")):
        raise ValueError("not COCO annotations: it needs lists `images`, `annotations` and `categories`")
    names = _categories(data["categories"])
    items: dict[Any, dict[str, Any]] = {}
    for image in data["images"]:
        if not isinstance(image, dict) or "id" not in image or not isinstance(image.get("file_name"), str):
            raise ValueError(f"an image entry has no id or file_name: {json.dumps(image)[:120]}")
        items[image["id"]] = {"image": image["file_name"], "boxes": [], "labels": []}
    for annotation in data.get("annotations") or []:
        if not isinstance(annotation, dict) or annotation.get("iscrowd"):
            continue
        item = items.get(annotation.get("image_id"))
        if item is None:
            raise ValueError(f"annotation {annotation.get('id')!r} names an image id that `images` lacks")
        category = annotation.get("category_id")
        if category not in names:
            raise ValueError(f"annotation {annotation.get('id')!r} has an unknown category_id {category!r}")
        item["boxes"].append(annotation.get("bbox"))
        item["labels"].append(names[category])
    ordered = sorted(names)
    return list(items.values()), [names[i] for i in ordered]


def _categories(raw: list[Any]) -> dict[Any, str]:
    names = {}
    for category in raw:
        if (
            not isinstance(category, dict)
            or "id" not in category
            or not isinstance(category.get("name"), str)
        ):
            raise ValueError(f"a category has no id or name: {json.dumps(category)[:120]}")
        names[category["id"]] = category["name"]
    return names

"""The size reader of safetensors checkpoints (grader.formats.safetensors): the shards transformers
would load, their tensors, and what config.json says of packed quantization (GPTQ, AWQ,
compressed-tensors). grader.harness.size_safetensors reads one file's header; this reads the folder."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from grader.harness.size_contents import Contents, by_suffix, found_names
from grader.harness.size_files import ModelFile
from grader.harness.size_notes import NoteFacts
from grader.harness.size_quant import recognise_packed
from grader.harness.size_safetensors import INDEX_SUFFIX, check_index, read_index, read_safetensors
from grader.harness.size_types import SizeError, TensorRecord


def read_safetensors_model(base: Path, files: list[ModelFile]) -> Contents:
    shards = by_suffix(files, ".safetensors")
    listed = {f.rel: f for f in files}
    indexes = [f for f in files if "/" not in f.rel and f.rel.endswith(INDEX_SUFFIX)]
    facts = NoteFacts(format="safetensors")
    index = None
    if indexes and "model.safetensors" in listed:
        shards = [listed["model.safetensors"]]  # transformers loads the single file before any index
    elif indexes:
        if len(indexes) > 1:
            raise SizeError(f"{', '.join(i.rel for i in indexes)}: more than one shard index; keep one")
        index = read_index(indexes[0].path, indexes[0].rel)
        for name in index.shards:
            if name not in listed:
                raise SizeError(f"{index.rel}: lists the shard {name}, which is missing")
        shards = [listed[s] for s in index.shards]
    if not shards:
        raise SizeError(f"{base}: no .safetensors file (found: {found_names(files)})")
    records: list[TensorRecord] = []
    for shard in shards:
        records += read_safetensors(shard.path, shard.rel)
    if index is not None:
        facts.unindexed_tensors = check_index(index, records, {s: s for s in index.shards})
    names = Counter(r.name for r in records)
    facts.duplicate_names = sorted(n for n, count in names.items() if count > 1)
    facts.pruning_masks = _pruning_masks(records)
    summary = recognise_packed(records, _config(listed.get("config.json")))
    return Contents(records, {s.rel for s in shards}, methods=summary.methods, facts=facts)


def _config(file: ModelFile | None) -> dict[str, Any] | None:
    if file is None:
        return None
    try:
        data = json.loads(file.path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise SizeError(f"{file.rel}: not valid JSON: {error}") from None
    return data if isinstance(data, dict) else None


def _pruning_masks(records: list[TensorRecord]) -> list[tuple[str, int]]:
    names = {r.name for r in records}
    return [
        (r.name, r.nbytes)
        for r in records
        if r.name.endswith("_mask") and r.name.removesuffix("_mask") + "_orig" in names
    ]

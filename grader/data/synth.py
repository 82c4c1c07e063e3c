"""Regenerate the synthetic data files shipped in grader/data/ and their SHA256SUMS.

    python -m grader.data.synth --check   # regenerate in memory, compare with the files (CI does)
    python -m grader.data.synth --write   # rewrite the files and SHA256SUMS after a deliberate change

The loader (grader.harness.data) refuses a shipped file whose digest differs from SHA256SUMS, so
a hand edit cannot change an eval set silently; the tests also pin each eval set's digest.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from grader.data import ner, sentiment, translation

DATA_DIR = Path(__file__).resolve().parent
SUMS_FILE = "SHA256SUMS"


def jsonl(records: list[dict]) -> bytes:
    """One JSON object per line, keys in the order given, UTF-8 without escapes, final newline."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


# file name → its bytes, made deterministically.
GENERATED: dict[str, Callable[[], bytes]] = {
    "sentiment-ru.jsonl": lambda: jsonl(sentiment.eval_reviews("ru")),
    "sentiment-en.jsonl": lambda: jsonl(sentiment.eval_reviews("en")),
    "ner-ru.jsonl": lambda: jsonl(ner.eval_sentences("ru")),
    "ner-en.jsonl": lambda: jsonl(ner.eval_sentences("en")),
    "translation-en-ru.jsonl": lambda: jsonl(translation.eval_pairs()),
}


# Files and folders written by hand (lm-*.txt, qa-*.jsonl), by tools CI does not have (asr-*: eSpeak NG, see
# grader/data/speech.py), or as PNG bytes that depend on the zlib (shapes-test: grader/data/shapes.py
# checks its pixels): pinned in SHA256SUMS, not regenerated.
STATIC = ["lm-ru.txt", "lm-en.txt", "qa-ru.jsonl", "qa-en.jsonl", "asr-en", "asr-ru", "shapes-test"]


def shipped_files(folder: Path = DATA_DIR) -> list[str]:
    """Every shipped data file, relative to ``folder``: the generated ones and the static ones."""
    names = set(GENERATED)
    for name in STATIC:
        path = folder / name
        if path.is_dir():
            names.update(p.relative_to(folder).as_posix() for p in path.rglob("*") if p.is_file())
        else:
            names.add(name)
    return sorted(names)


def read_sums(folder: Path = DATA_DIR) -> dict[str, str]:
    """SHA256SUMS (`sha256sum` format) → {file name: hex digest}."""
    path = folder / SUMS_FILE
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        if digest and name:
            sums[name] = digest
    return sums


def write_sums(folder: Path, names: list[str]) -> None:
    lines = [f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}\n" for n in sorted(names)]
    (folder / SUMS_FILE).write_text("".join(lines), encoding="utf-8")


def check(folder: Path = DATA_DIR) -> list[str]:
    """Problems: generated files that differ from the shipped ones, and digests that do not match."""
    problems = []
    for name, make in GENERATED.items():
        path = folder / name
        if not path.is_file() or path.read_bytes() != make():
            problems.append(f"{name}: differs from what the generator makes")
    sums = read_sums(folder)
    problems += [f"{name}: not listed in {SUMS_FILE}" for name in shipped_files(folder) if name not in sums]
    for name, digest in sums.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: listed in {SUMS_FILE} but missing")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"{name}: sha256 differs from {SUMS_FILE}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.data.synth", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the generated files and SHA256SUMS")
    action.add_argument("--check", action="store_true", help="compare the files with the generator's output")
    args = parser.parse_args(argv)
    if args.write:
        for name, make in GENERATED.items():
            (DATA_DIR / name).write_bytes(make())
        write_sums(DATA_DIR, shipped_files())
        print(f"wrote {len(GENERATED)} files and {SUMS_FILE}")
        return 0
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    print("shipped data matches the generator" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

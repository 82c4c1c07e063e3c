"""Regenerate the gradebook's golden files: `python -m tests.golden.gradebook.regen` (from the
repository root). Review the diff before committing: a changed file is a changed gradebook."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE.parents[1]
if str(TESTS) not in sys.path:  # `golden.*` imports, as under pytest (tests/ on sys.path)
    sys.path.insert(0, str(TESTS))


def main() -> int:
    from golden.gradebook.cases import gradebook_files

    with tempfile.TemporaryDirectory() as tmp:
        files = gradebook_files(Path(tmp))
    changed = 0
    for name, content in sorted(files.items()):
        path = HERE / name
        if not path.exists() or path.read_text(encoding="utf-8") != content:
            path.write_text(content, encoding="utf-8")
            changed += 1
            print(f"wrote {path.relative_to(TESTS.parent)}")
    stale = sorted(p for p in HERE.iterdir() if p.suffix in (".md", ".csv") and p.name not in files)
    for path in stale:
        path.unlink()
        print(f"removed {path.relative_to(TESTS.parent)}")
    print(f"{len(files)} gradebook golden files, {changed} changed, {len(stale)} removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

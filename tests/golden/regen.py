"""Regenerate the golden files: `python -m tests.golden.regen` (from the repository root).

Review the diff before committing: a changed golden file is a changed PR comment or leaderboard.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:  # `golden.*` imports, as under pytest (tests/ on sys.path)
    sys.path.insert(0, str(HERE.parent))


def main() -> int:
    from golden.cases import golden_files

    with tempfile.TemporaryDirectory() as tmp:
        files = golden_files(Path(tmp))
    changed = 0
    for name, content in sorted(files.items()):
        path = HERE / name
        data = content.encode("utf-8") if isinstance(content, str) else content
        if not path.exists() or path.read_bytes() != data:
            path.write_bytes(data)
            changed += 1
            print(f"wrote {path.relative_to(HERE.parent.parent)}")
    stale = sorted(p for p in HERE.iterdir() if p.suffix in (".md", ".json") and p.name not in files)
    for path in stale:
        path.unlink()
        print(f"removed {path.relative_to(HERE.parent.parent)}")
    print(f"{len(files)} golden files, {changed} changed, {len(stale)} removed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``make solutions``: write the solution notebooks (every stub cell solved) into ``--out``.

    python -m edu_contrast.exercises._make_solutions --out build/solutions notebooks/*.ipynb

Apart from ``_notebooks`` (which the package imports) so that ``python -m`` runs a module not yet loaded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edu_contrast.exercises._notebooks import write_solutions


def main(argv: list[str] | None = None) -> int:
    """``make solutions``: one line per notebook, how many stubs it had."""
    parser = argparse.ArgumentParser(description="Write solution notebooks (stub cells solved).")
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("build/solutions"))
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"argument notebooks: not a notebook file: {', '.join(missing)}")
    for path, count in write_solutions(args.notebooks, args.out):
        print(f"{path}: {count} exercise{'s' if count != 1 else ''} solved")
    return 0


if __name__ == "__main__":
    sys.exit(main())

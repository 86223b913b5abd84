"""The notebooks' check assertions and docs/check_margins.md, kept in step (tests/test_check_margins.py).

Every ``assert`` in a notebook's code cell, and every call the notebook makes to ``lesson.check_effect``, sits
under a comment line ``# check: NN-name`` that names it; docs/check_margins.md has one row per name with
the numbers the assertion compares against (its "margin": every number literal of the statement, outside
its message and subscripts, in order). ``checks(path)`` reads them from a notebook, ``table(path)`` from the
doc.

    .venv/bin/python tools/check_margins.py --add-ids notebooks/*.ipynb  # name every unnamed assert
    .venv/bin/python tools/check_margins.py notebooks/*.ipynb            # rows for the names the doc lacks

``--add-ids`` only inserts comment lines into code cells (load, modify, save in one go), so it is safe to
run while others edit markdown and setup cells.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
from pathlib import Path

from edu_contrast._check_record import ID, check_statements

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "check_margins.md"


def _numbers(node: ast.AST) -> list[str]:
    """The number literals of ``node`` in source order, outside subscripts' indices and string parts."""
    found = []
    for child in ast.iter_child_nodes(node):
        if isinstance(node, ast.Subscript) and child is node.slice:
            continue
        if isinstance(child, ast.Constant) and type(child.value) in (int, float):
            found.append(repr(child.value))
        elif (
            isinstance(child, ast.UnaryOp)
            and isinstance(child.op, ast.USub)
            and isinstance(child.operand, ast.Constant)
        ):
            found.append(repr(-child.operand.value))
        elif not isinstance(child, ast.JoinedStr):
            found.extend(_numbers(child))
    return found


def _margin(stmt: ast.stmt) -> list[str]:
    if isinstance(stmt, ast.Assert):
        return _numbers(stmt.test)
    return [lit for kw in stmt.value.keywords if kw.arg == "margin" for lit in _numbers(ast.Expr(kw.value))]


def _modes(conditions: list[str]) -> str:
    """The modes a check runs in, from the source of the ``if`` tests around it."""
    text = " ".join(conditions)
    if re.search(r"mode == ['\"]full['\"]", text):
        return "full"
    if "not setup.quick" in text or "not QUICK" in text:
        return "lab, full"
    if re.search(r"mode != ['\"]full['\"]", text):
        return "quick, lab"
    if re.search(r"(?<!not )\bsetup\.quick\b", text):
        return "quick"
    return "quick, lab, full"


def cell_checks(source: str) -> list[dict]:
    """``{"id", "line", "margin", "modes"}`` for every check statement of one code cell (``id`` None when
    unnamed); ``modes`` from the ``if`` tests around it."""
    lines = source.split("\n")
    found = []
    for stmt, conditions in check_statements(source):
        above = ID.match(lines[stmt.lineno - 2]) if stmt.lineno >= 2 else None
        found.append({"id": above.group(2) if above else None, "line": stmt.lineno, "margin": _margin(stmt),
                      "modes": _modes([ast.unparse(test) for test in conditions])})  # fmt: skip
    return found


def checks(path: Path) -> list[dict]:
    """Every check statement of a notebook: ``{"id", "cell", "line", "margin", "source"}``."""
    cells = json.loads(Path(path).read_text())["cells"]
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            source = "".join(cell["source"])
            for check in cell_checks(source):
                found.append(
                    {**check, "cell": index, "source": source.split("\n")[check["line"] - 1].strip()}
                )
    return found


def table(path: Path = DOC) -> dict:
    """docs/check_margins.md's rows by id: ``{"notebook", "cell", "margin": [literal, ...], "row"}``."""
    rows = {}
    for line in Path(path).read_text().splitlines():
        cols = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]  # "\|" is a literal |
        if line.startswith("|") and cols[0].startswith("`") and re.fullmatch(r"`\d\d-[\w-]+`", cols[0]):
            literals = cols[6].strip("`")
            margin = [m.strip() for m in literals.split(",")] if literals not in ("", "—") else []
            rows[cols[0].strip("`")] = {
                "notebook": cols[1],
                "cell": int(cols[2]),
                "margin": margin,
                "row": line,
            }
    return rows


def _slug(text: str, taken: set) -> str:
    words = re.findall(r"[a-z0-9]+", re.sub(r"\{[^}]*\}", "", text).lower())[:5] or ["check"]
    slug, n = "-".join(words), 2
    while slug in taken:
        slug, n = f"{'-'.join(words)}-{n}", n + 1
    taken.add(slug)
    return slug


def add_ids(path: Path) -> list[str]:
    """Insert ``# check: NN-slug`` above every unnamed check of the notebook's code cells; returns the ids."""
    nb = json.loads(Path(path).read_text())
    prefix, added = Path(path).name[:2], []
    taken = {c["id"].split("-", 1)[1] for c in checks(path) if c["id"]}
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).split("\n")
        for check in reversed(cell_checks("\n".join(lines))):
            if check["id"] is None:
                statement = lines[check["line"] - 1]
                message = re.findall(r"\"([^\"]+)\"\s*$", statement) or [statement.split("assert", 1)[-1]]
                name = f"{prefix}-{_slug(message[0], taken)}"
                indent = statement[: len(statement) - len(statement.lstrip())]
                lines.insert(check["line"] - 1, f"{indent}# check: {name}")
                added.append(name)
        cell["source"] = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    if added:
        Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return added


CHECK_SEEDS = "b845e08"  # the commit whose notebooks `make check-seeds` ran (README: all 72 runs passed)


def _swept_sources(name: str) -> set[str]:
    """The stripped lines of the notebook ``name`` as `make check-seeds` ran it."""
    shown = subprocess.run(["git", "-C", str(ROOT), "show", f"{CHECK_SEEDS}:notebooks/{name}"],
                           capture_output=True, text=True)  # fmt: skip
    if shown.returncode:
        return set()
    cells = json.loads(shown.stdout)["cells"]
    return {
        line.strip() for c in cells if c["cell_type"] == "code" for line in "".join(c["source"]).split("\n")
    }


def row(check: dict, path: Path, swept: set[str]) -> str:
    """A new row: what `make check-seeds` says of the check if it ran it unchanged, else "not swept"."""
    message = re.findall(r"check_effect\(\w+, \"([^\"]+)\"", check["source"])  # the effect's name
    message = message or re.findall(r"\"([^\"]+)\"\s*$", check["source"])  # an assert's message
    short = (message[0] if message else check["source"].removeprefix("assert "))[:80].replace("|", "\\|")
    margin = ", ".join(check["margin"]) or "—"
    modes = [m for m in ("quick", "lab") if m in check["modes"]] + (
        ["full"] if path.name[:2] in ("01", "03") else []
    )
    if check["source"] in swept and modes and check["modes"] != "full":
        effect, measured = (
            "not recorded",
            f"3 seeds (make check-seeds, Xeon, {CHECK_SEEDS}): passed in {', '.join(modes)}",
        )
    else:
        effect, measured = "not swept", "not swept"
    head = f"| `{check['id']}` | {path.name[:2]} | {check['cell']} | {short} | {check['modes']} | {effect} |"
    return f"{head} `{margin}` | {measured} |"


def sync(paths: list[Path], doc: Path = DOC) -> None:
    """Rewrite the doc's table for ``paths``' checks: keep each row's text and update its cell and modes (a
    row whose margin changed is written anew), drop rows of checks that are gone, add rows for new ones."""
    rows, lines = table(doc), Path(doc).read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("| `") and line.split("`")[1] in rows)
    last = max(i for i, line in enumerate(lines) if line.startswith("| `") and line.split("`")[1] in rows)
    keep = {row["notebook"] for row in rows.values()} - {p.name[:2] for p in paths}
    new = [row["row"] for row in rows.values() if row["notebook"] in keep]
    for path in paths:
        swept = _swept_sources(path.name)
        for check in checks(path):
            old = rows.get(check["id"])
            if old is None:
                new.append(row(check, path, swept))
                continue
            # "", id, nb, cell, check, modes, effect, margin, measured, "" (a "\|" inside a column is text)
            cols = re.split(r"(?<!\\)\|", old["row"])
            cols[3], cols[5] = f" {check['cell']} ", f" {check['modes']} "
            if [float(m) for m in old["margin"]] != [float(m) for m in check["margin"]]:
                new.append(row(check, path, swept))  # a changed margin: what was measured no longer holds
                continue
            new.append("|".join(cols))
    new.sort(key=lambda line: line.split("|")[2].strip())  # by notebook, stable within one
    Path(doc).write_text("\n".join(lines[:first] + new + lines[last + 1 :]) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--add-ids", action="store_true", help="name every unnamed check (comment lines)")
    parser.add_argument("--sync", action="store_true", help="rewrite the doc's rows for these notebooks")
    args = parser.parse_args()
    if args.sync:
        sync(args.notebooks)
        return
    known = table()
    for path in args.notebooks:
        if args.add_ids:
            print(path.name, "named:", add_ids(path))
        swept = _swept_sources(path.name)
        for check in checks(path):
            if check["id"] not in known:
                print(row(check, path, swept))


if __name__ == "__main__":
    main()

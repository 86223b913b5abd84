"""Record by how much each notebook check passed: its slack, for the seed sweeps of docs/check_margins.md.

Every ``assert`` of a notebook's code cell, and every ``lesson.check_effect(...)`` call, sits under a comment
line ``# check: NN-name``. ``instrument(nb, record_path)`` puts a call in front of each such statement that
appends one JSON line to ``record_path`` when the statement is reached:

    {"id": "02-seed-is-not-less-uniform", "slack": 0.41, "passed": true, ...}

The slack is how far the comparison holds, in the check's own units: ``a > b + m`` gives a − (b + m);
where the margin scales a value it is relative, ``a < m·b`` gives 1 − a/(m·b) (so the rule min − 2·sd ≥ 0
reads as it does for the ratio a/b); ``x > m > y`` the smaller of both sides, ``p and q`` the smaller of both,
``all(... for ...)`` the smallest over the items, ``check_effect(effects, name, margin=m)`` effects[name] − m.
A check that compares no numbers (``torch.allclose``, ``==``) records only ``passed``. The notebook file is
not changed: the runner executes an instrumented copy.
"""

from __future__ import annotations

import ast
import copy
import re

ID = re.compile(r"^(\s*)# check: (\S+)\s*$")
CHECK_CALLS = ("check_effect",)  # calls that assert, besides `assert`
RECORDER = "__record_check__"


def parsable(source: str) -> str:
    """The cell's source with IPython magics and shell lines blanked (same line numbers)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))


def is_check(stmt: ast.stmt) -> bool:
    """An ``assert`` or a bare call to one of ``CHECK_CALLS``."""
    if isinstance(stmt, ast.Assert):
        return True
    call = stmt.value if isinstance(stmt, ast.Expr) else None
    return (
        isinstance(call, ast.Call) and getattr(call.func, "attr", getattr(call.func, "id", "")) in CHECK_CALLS
    )


def check_statements(source: str) -> list[tuple[ast.stmt, list[ast.expr]]]:
    """Every check statement of one code cell with the ``if`` tests around it, in source order."""
    found = []

    def visit(node: ast.AST, conditions: list[ast.expr]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt) and is_check(child):
                found.append((child, conditions))
            visit(child, conditions + [child.test] if isinstance(child, ast.If) else conditions)

    visit(ast.parse(parsable(source)), [])
    return sorted(found, key=lambda found_check: found_check[0].lineno)


def _float(node: ast.expr) -> ast.expr:
    return ast.Call(ast.Name("float"), [node], [])


def _smallest(parts: list[ast.expr]) -> ast.expr:
    return parts[0] if len(parts) == 1 else ast.Call(ast.Name("min"), parts, [])


def _scaled(node: ast.expr) -> bool:
    """``m * x``, ``x * m`` or ``x / m`` with a number m and a non-number x: a margin that scales a value."""
    if not (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div))):
        return False
    number = [isinstance(side, ast.Constant) for side in (node.left, node.right)]
    return number.count(True) == 1 and (isinstance(node.op, ast.Mult) or number[1])


def _difference(larger: ast.expr, smaller: ast.expr) -> ast.expr:
    """larger − smaller; relative to the scaled side where the margin scales a value (``a < 0.5 * b``
    gives 1 − a / (0.5 b)), so runs and loop items of different scales compare."""
    difference = ast.BinOp(_float(larger), ast.Sub(), _float(smaller))
    scale = larger if _scaled(larger) else smaller if _scaled(smaller) else None
    if scale is None:
        return difference
    return ast.BinOp(difference, ast.Div(), ast.Call(ast.Name("abs"), [_float(scale)], []))


def slack_expression(test: ast.expr) -> ast.expr | None:
    """An expression that is > 0 by as much as ``test`` holds with room to spare; None if it compares no
    numbers."""
    if isinstance(test, ast.Compare):
        parts, left = [], test.left
        for op, right in zip(test.ops, test.comparators):
            if isinstance(op, (ast.Gt, ast.GtE)):
                parts.append(_difference(left, right))
            elif isinstance(op, (ast.Lt, ast.LtE)):
                parts.append(_difference(right, left))
            else:
                return None
            left = right
        return _smallest(parts)
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        parts = [slack_expression(value) for value in test.values]
        return None if None in parts else _smallest(parts)
    if (
        isinstance(test, ast.Call)
        and getattr(test.func, "id", "") == "all"
        and len(test.args) == 1
        and isinstance(test.args[0], ast.GeneratorExp)
    ):
        item = slack_expression(test.args[0].elt)
        if item is None:
            return None
        return ast.Call(ast.Name("min"), [ast.GeneratorExp(item, test.args[0].generators)], [])
    return None


def _record_call(check_id: str, stmt: ast.stmt) -> str:
    """``__record_check__(id, lambda: slack, lambda: passed)`` for one check statement, on one line."""
    if isinstance(stmt, ast.Assert):
        slack, passed = slack_expression(stmt.test), stmt.test
    else:  # check_effect(effects, name, margin=m): passes when effects[name] > m
        call = stmt.value
        margin = next(kw.value for kw in call.keywords if kw.arg == "margin")
        slack = ast.BinOp(_float(ast.Subscript(call.args[0], call.args[1])), ast.Sub(), margin)
        passed = ast.Compare(slack, [ast.Gt()], [ast.Constant(0.0)])
    slack_source = ast.unparse(slack) if slack is not None else "None"
    return f"{RECORDER}({check_id!r}, lambda: {slack_source}, lambda: {ast.unparse(passed)})"


def instrument_source(source: str, *, keep_going: bool = False) -> str:
    """The cell's source with a recording call in front of every named check that starts its own line.

    ``keep_going``: a failing check is recorded and does not stop the notebook (the statement runs inside
    ``try: … except AssertionError: pass``), so a sweep measures every later check of a seed too.
    """
    lines = source.split("\n")
    for stmt, _ in reversed(check_statements(source)):
        named = ID.match(lines[stmt.lineno - 2]) if stmt.lineno >= 2 else None
        statement_line = lines[stmt.lineno - 1]
        indent = statement_line[: len(statement_line) - len(statement_line.lstrip())]
        if named is None or stmt.col_offset != len(indent):
            continue  # unnamed, or after `if x:` on the same line: recording it would run it unconditionally
        if keep_going:
            body = ["    " + line for line in lines[stmt.lineno - 1 : stmt.end_lineno]]
            after = [indent + "except AssertionError:", indent + "    pass"]
            lines[stmt.lineno - 1 : stmt.end_lineno] = [indent + "try:", *body, *after]
        lines.insert(stmt.lineno - 1, indent + _record_call(named.group(2), stmt))
    return "\n".join(lines)


def recorder_source(record_path: str, fields: dict) -> str:
    """The code cell that defines the recorder: each call appends ``fields`` + id, slack, passed, threads."""
    return f'''import json as _json
import torch as _torch


def {RECORDER}(check_id, slack, passed):
    """Append how far a check passed to the sweep's record (injected by notebook_runner --record-checks)."""
    record = {{**{fields!r}, "id": check_id, "threads": _torch.get_num_threads()}}
    for name, value in (("slack", slack), ("passed", passed)):
        try:
            record[name] = value() if name == "slack" else bool(value())
        except Exception as error:  # the check itself will raise it again, with its own message
            record[name], record[name + "_error"] = None, repr(error)[:200]
    with open({record_path!r}, "a", encoding="utf-8") as out:
        out.write(_json.dumps(record) + "\\n")
'''


def instrument(nb, record_path: str, fields: dict, *, keep_going: bool = False):
    """A copy of the notebook whose checks append their slack to ``record_path`` (JSON lines);
    ``keep_going`` as in ``instrument_source``."""
    import nbformat

    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = instrument_source(cell.source, keep_going=keep_going)
    nb.cells.insert(0, nbformat.v4.new_code_cell(recorder_source(str(record_path), fields)))
    return nb

"""The package's shape, kept by a test: short files and functions, one stem per notebook, one-way imports.

- No file under edu_contrast/ over 350 lines, no function over 80.
- Notebook ``NN_stem.ipynb`` ↔ ``lessons/stem.py``, ``widgets/stem.py``, ``exercises/stem.py``, and no other
  (non-underscore) module in those folders.
- Dependencies point one way: widgets → lessons → methods/measure/train → losses/diagnostics/probes/models/
  augment/data; exercises never import widgets; no package import inside a function.
- Measuring functions (effective rank, uniformity) are defined only in losses/, diagnostics.py, measure.py.
"""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "edu_contrast"
SOURCES = sorted(PACKAGE.rglob("*.py"))
STEMS = sorted(p.stem.split("_", 1)[1] for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_FILE_LINES, MAX_FUNCTION_LINES = 350, 80

# Layer of each top-level part of the package; a module may import only from its own layer or a lower one.
LAYERS = {
    **dict.fromkeys(("_version", "_validation", "_check_record", "budget", "utils"), 0),
    **dict.fromkeys(("losses", "diagnostics", "probes", "models", "augment", "data", "viz", "retrieval"), 1),
    **dict.fromkeys(("distributed", "methods", "measure", "train"), 2),
    "serve": 2,  # export/quantize/backends beside train (the serving lesson uses them); app.py on top of them
    "lessons": 3,
    "exercises": 4,
    "widgets": 4,
    **dict.fromkeys(("cli", "__main__", "notebook_runner", "__init__"), 5),
}


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _part(module: str) -> str:
    """``edu_contrast.train.fit`` → ``train``."""
    return module.split(".")[1] if module.count(".") else "__init__"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_imports(tree: ast.AST, module: str, is_package: bool) -> list[tuple[ast.AST, str]]:
    """(node, absolute module name) of every import of an edu_contrast module in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node, a.name) for a in node.names if a.name.startswith("edu_contrast")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = module.split(".")[: len(module.split(".")) - node.level + is_package]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            if name.startswith("edu_contrast"):
                subs = [f"{name}.{a.name}" for a in node.names] if name == "edu_contrast" else [name]
                found += [(node, s) for s in subs]
    return found


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_files_and_functions_are_short(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_FILE_LINES, f"{_rel(path)}: over {MAX_FILE_LINES} lines; split it"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, f"{_rel(path)}:{node.lineno} {node.name} has {length} lines"


@pytest.mark.parametrize("folder", ["lessons", "widgets", "exercises"])
def test_one_module_per_notebook_stem(folder):
    modules = sorted(p.stem for p in (PACKAGE / folder).glob("*.py") if not p.stem.startswith("_"))
    assert modules == STEMS, f"edu_contrast/{folder}/ must hold exactly one module per notebook stem"


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_imports_point_one_way(path):
    module = _module_name(path)
    tree = ast.parse(path.read_text())
    layer = LAYERS[_part(module)]
    for node, imported in _package_imports(tree, module, path.name == "__init__.py"):
        target = _part(imported)
        assert target in LAYERS, f"{_rel(path)}: imports {imported}, which has no layer in test_layout"
        if target == _part(module):
            continue
        assert LAYERS[target] <= layer, f"{_rel(path)}:{node.lineno} imports {imported} from a higher layer"
        assert not (_part(module) == "exercises" and target == "widgets"), (
            f"{_rel(path)}: exercises → widgets"
        )


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_no_package_import_inside_a_function(path):
    module = _module_name(path)
    tree = ast.parse(path.read_text())
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inner = _package_imports(fn, module, path.name == "__init__.py")
            assert not inner, f"{_rel(path)}:{fn.lineno} {fn.name} imports {inner[0][1]} inside the function"


MEASURING = re.compile(r"^\s*def (?!plot_)\w*(effective_rank|uniformity)\w*\(", re.MULTILINE)
# Closed-form values a lesson derives (not measurements of embeddings).
CLOSED_FORM = {"uniform_sphere_uniformity", "uniformity_lower_bound"}
MEASURE_HOMES = ("edu_contrast/losses/", "edu_contrast/diagnostics.py", "edu_contrast/measure.py")


def test_measuring_functions_live_in_one_place():
    """Closed-form bounds a lesson derives and the checkers' mistake generators aside (exercises/)."""
    stray = [
        f"{_rel(p)}: {m.group(0).strip()}"
        for p in SOURCES
        if not _rel(p).startswith(MEASURE_HOMES + ("edu_contrast/exercises/",))
        for m in MEASURING.finditer(p.read_text())
        if not (
            _rel(p).startswith("edu_contrast/lessons/")
            and re.search(r"def (\w+)", m.group(0))[1] in CLOSED_FORM
        )
    ]
    assert not stray, "measure these with diagnostics/measure instead:\n" + "\n".join(stray)

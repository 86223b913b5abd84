"""Build the course site: ``python book/build.py [OUT] [--executed DIR]`` (`make book`; OUT: build/book).

1. Stage the Sphinx sources in OUT/src: this folder's conf.py, index.md and _static/, the README's
   curriculum section (the index page includes it), notebooks/00_notation.md, and every notebook
   executed once in quick mode by ``edu_contrast.notebook_runner.run_notebooks`` (two at a time, one BLAS
   thread each).
2. Render OUT/src to OUT/html with Sphinx + myst-nb, whose own execution is off.

Nothing is copied into the repository: the notebooks stay output-free, and the site has no second copy of
any text. A notebook that fails stops the build with its name. ``--executed DIR`` renders notebooks already
executed in quick mode (the test session's) instead of running them again.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

BOOK = Path(__file__).resolve().parent
ROOT = BOOK.parent
NOTEBOOKS = ROOT / "notebooks"
COLAB_BADGE = "https://colab.research.google.com/assets/colab-badge.svg"
LOCAL_BADGE = "_static/colab-badge.svg"  # the same badge, served by the site (no request leaves it)
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    '<p class="widget-note">An interactive explorer (sliders) is here in the notebook: open it in Colab '
    "(the rocket button above) or with <code>make lab</code> to use it.</p>"
)


def mathjax_folder() -> Path:
    """MathJax 3's browser build (es5/) as the pip package django-static-mathjax ships it (no Django)."""
    spec = importlib.util.find_spec("mathjax")
    if spec is None or spec.origin is None:
        raise RuntimeError("MathJax is missing: pip install -e '.[book]' (django-static-mathjax)")
    return Path(spec.origin).parent / "static" / "mathjax" / "es5"


def course_notebooks(folder: Path = NOTEBOOKS) -> list[Path]:
    """The course notebooks ``NN_stem.ipynb`` in curriculum order (their number)."""
    return sorted(folder.glob("[0-9][0-9]_*.ipynb"))


def execute_all(paths: list[Path], jobs: int = 2) -> dict[str, dict]:
    """Every notebook run in quick mode, seed 0, ``jobs`` at a time (``notebook_runner.run_notebooks``:
    one BLAS thread per worker), as JSON by file name; ``RuntimeError`` naming each notebook that failed."""
    import nbformat

    from edu_contrast.notebook_runner import run_notebooks

    executed, failed = {}, []
    for run in run_notebooks(paths, mode="quick", seeds=(0,), jobs=jobs):
        if run.error is not None:
            failed.append(f"{run.path.name}: {run.error}")
            continue
        executed[run.path.name] = json.loads(nbformat.writes(run.nb))
        print(f"executed {run.path.name} ({run.seconds:.0f} s)", flush=True)
    if failed:
        raise RuntimeError("notebooks failed in quick mode:\n" + "\n\n".join(failed))
    return executed


def _localize_badge(text: str, depth: int) -> str:
    return text.replace(COLAB_BADGE, "../" * depth + LOCAL_BADGE)


def _static_widget(output: dict) -> dict:
    """A widget view (no widget manager on a static page) becomes a note on where to use it."""
    if WIDGET_VIEW in output.get("data", {}):  # display_data, or execute_result when a cell ends with it
        return {"output_type": "display_data", "metadata": {}, "data": {"text/html": WIDGET_NOTE}}
    return output


def for_the_site(nb: dict) -> dict:
    """The executed notebook as the site shows it: local Colab badge, widget views as a note, no saved
    widget state (it would make the page load a widget manager from a CDN)."""
    nb = json.loads(json.dumps(nb))
    nb["metadata"].pop("widgets", None)
    for cell in nb["cells"]:
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        if cell["cell_type"] == "markdown":
            cell["source"] = _localize_badge(source, depth=1)
        if cell["cell_type"] == "code":
            cell["outputs"] = [_static_widget(o) for o in cell.get("outputs", [])]
    return nb


def curriculum_section(readme: str) -> str:
    """README's ``## Curriculum`` section up to the next ``## `` heading, badges served locally."""
    start = readme.index("## Curriculum")
    end = readme.find("\n## ", start + 1)
    return _localize_badge(readme[start : end if end != -1 else None], depth=0)


def stage(src: Path, execute_fn: Callable[[list[Path]], dict[str, dict]] = execute_all) -> list[Path]:
    """Write the Sphinx sources into ``src``; return the staged notebook pages in curriculum order."""
    if src.exists():
        shutil.rmtree(src)
    shutil.copytree(BOOK, src, ignore=shutil.ignore_patterns("build.py", "__pycache__"))
    shutil.copytree(mathjax_folder(), src / "_static" / "mathjax")
    (src / "_curriculum.md").write_text(curriculum_section((ROOT / "README.md").read_text()))
    (src / "notebooks").mkdir()
    shutil.copy(NOTEBOOKS / "00_notation.md", src / "notebooks" / "00_notation.md")
    paths = course_notebooks()
    executed = execute_fn(paths)
    staged = []
    for path in paths:
        staged.append(src / "notebooks" / path.name)
        staged[-1].write_text(json.dumps(for_the_site(executed[path.name]), indent=1, ensure_ascii=False))
    return staged


def read_executed(folder: Path) -> Callable[[list[Path]], dict[str, dict]]:
    """An ``execute_fn`` that reads notebooks executed elsewhere from ``folder`` (one file per notebook, same
    name), e.g. by the test session, instead of running them again."""

    def read(paths: list[Path]) -> dict[str, dict]:
        missing = [p.name for p in paths if not (folder / p.name).is_file()]
        if missing:
            raise RuntimeError(f"--executed {folder}: no executed copy of {', '.join(missing)}")
        return {p.name: json.loads((folder / p.name).read_text()) for p in paths}

    return read


def build(out: Path, executed: Path | None = None) -> Path:
    """Stage and render the site (notebooks run here, or read from ``executed``); return its index.html."""
    from sphinx.cmd.build import build_main

    stage(out / "src", execute_all if executed is None else read_executed(executed))
    args = ["-b", "html", "-W", "--keep-going", "-q", "-d", str(out / "doctrees"), str(out / "src")]
    if build_main([*args, str(out / "html")]) != 0:
        raise RuntimeError("sphinx-build failed (warnings are errors); see its messages above")
    return out / "html" / "index.html"


def _arguments(argv: list[str]):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / "build" / "book")
    parser.add_argument(
        "--executed", type=Path, default=None, help="a folder of notebooks already executed in quick mode"
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _arguments(sys.argv[1:])
    try:
        print(f"built {build(args.out.resolve(), args.executed)}")
    except RuntimeError as error:
        sys.exit(f"make book: {error}")

"""The course site (`make book`, book/build.py): fast checks of its staging, and one slow test that builds
it and opens every page in headless Chromium (Debian's /usr/bin/chromium via Playwright) from a local
``http.server``: no console error, figures loaded, maths typeset by the site's own MathJax (no CDN), every
internal link and anchor alive, a Colab button per notebook, the navigation in curriculum order, search
working, and no reference solution's source on any page. A screenshot goes to build/screenshots/ on failure.
"""

import ast
import html
import importlib.util
import inspect
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from test_browser import CHROMIUM, require_chromium

from edu_contrast import exercises  # noqa: F401  (registers every exercise)
from edu_contrast.exercises._registry import EXERCISES

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
book = sys.modules["book_build"] = importlib.util.module_from_spec(_spec)  # picklable for its workers
_spec.loader.exec_module(book)

_links_spec = importlib.util.spec_from_file_location("colab_links", ROOT / "tools" / "colab_links.py")
colab_links = importlib.util.module_from_spec(_links_spec)
_links_spec.loader.exec_module(colab_links)
COLAB = colab_links.colab_url(*colab_links.settings(), "{name}")  # the notebook at the release tag
BUILT_ENV = "EDU_CONTRAST_BOOK_DIR"  # set to build/book to test that site instead of building one
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


# --- helpers the slow test uses (tested fast below) ----------------------------------------------------


def _collapse(text: str) -> str:
    return " ".join(text.split())


def reference_body(fn) -> str:
    """The statements of ``fn`` (no signature, no docstring), whitespace collapsed."""
    source = textwrap.dedent(inspect.getsource(fn))
    function = ast.parse(source).body[0]
    statements = function.body[1:] if ast.get_docstring(function) else function.body
    lines = source.splitlines()[statements[0].lineno - 1 : statements[-1].end_lineno]
    return _collapse("\n".join(lines))


def page_text(page_html: str) -> str:
    """What a reader sees of an HTML page (tags dropped, entities decoded), whitespace collapsed."""
    return _collapse(html.unescape(re.sub(r"<[^>]+>", " ", page_html)))


def leaked_solutions(page_html: str) -> list[str]:
    """Names of the exercises whose reference body appears on the page."""
    text = page_text(page_html)
    return [name for name, entry in EXERCISES.items() if reference_body(entry.reference) in text]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unexecuted(paths):
    return {p.name: json.loads(p.read_text()) for p in paths}


# --- fast ------------------------------------------------------------------------------------------------


def test_course_notebooks_are_every_notebook_in_curriculum_order():
    names = [p.name for p in book.course_notebooks()]
    assert names == NOTEBOOKS and len(names) >= 12
    assert [int(n[:2]) for n in names] == list(range(1, len(names) + 1)), "numbered 01, 02, … without gaps"


def test_staging_holds_the_notation_every_notebook_and_offline_mathjax(tmp_path):
    staged = book.stage(tmp_path / "src", execute_fn=_unexecuted)
    src = tmp_path / "src"
    assert [p.name for p in staged] == NOTEBOOKS
    assert sorted(p.name for p in (src / "notebooks").iterdir()) == ["00_notation.md", *NOTEBOOKS]
    assert ":glob:" in (src / "index.md").read_text() and "notebooks/*" in (src / "index.md").read_text()
    assert (src / "_static" / "mathjax" / "tex-mml-chtml.js").is_file()
    curriculum = (src / "_curriculum.md").read_text()
    for name in NOTEBOOKS:  # the index's table links every notebook
        assert f"](notebooks/{name})" in curriculum, name
    assert book.COLAB_BADGE not in curriculum and book.LOCAL_BADGE in curriculum
    assert (src / book.LOCAL_BADGE).is_file() and not (src / "build.py").exists()


def test_the_site_copy_has_a_local_badge_and_no_widget_manager():
    view = {
        "output_type": "execute_result",
        "data": {book.WIDGET_VIEW: {"model_id": "x"}, "text/plain": "VBox"},
    }
    image = {"output_type": "display_data", "data": {"image/png": "iVBOR"}, "metadata": {}}
    nb = {
        "metadata": {"widgets": {"state": {}}},
        "cells": [
            {
                "cell_type": "markdown",
                "source": [f"[![Open In Colab]({book.COLAB_BADGE})](x)"],
                "metadata": {},
            },
            {"cell_type": "code", "source": "explorer()", "outputs": [view, image], "metadata": {}},
        ],
    }
    site = book.for_the_site(nb)
    assert "widgets" not in site["metadata"] and "widgets" in nb["metadata"], "a copy, not the original"
    assert site["cells"][0]["source"] == "[![Open In Colab](../_static/colab-badge.svg)](x)"
    note, kept = site["cells"][1]["outputs"]
    assert note["output_type"] == "display_data" and "execution_count" not in note
    assert "Colab" in note["data"]["text/html"] and book.WIDGET_VIEW not in note["data"]
    assert kept == image


def test_curriculum_section_stops_at_the_next_section():
    readme = "# T\n## Quickstart\nq\n## Curriculum\n| 01 | x |\n## Exercises\ne\n"
    assert book.curriculum_section(readme) == "## Curriculum\n| 01 | x |"


def test_a_leaked_reference_is_found_and_a_stub_is_not():
    entry = EXERCISES["quantize_uint8"]
    leak = "<pre>" + html.escape(textwrap.dedent(inspect.getsource(entry.reference))) + "</pre>"
    assert leaked_solutions(leak) == ["quantize_uint8"]
    stub = '<pre>def quantize_uint8(t):\n    raise NotImplementedError("q = clip(round(t/s) + z)")</pre>'
    assert leaked_solutions(stub) == []


def _notebook(path: Path, code: str) -> Path:
    cell = {"cell_type": "code", "source": code, "metadata": {}, "outputs": [], "execution_count": None}
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    path.write_text(json.dumps({"cells": [cell], "metadata": meta, "nbformat": 4, "nbformat_minor": 5}))
    return path


def test_notebooks_run_in_quick_mode_with_one_thread_and_a_failure_names_its_notebook(tmp_path):
    threads_before = os.environ.get("OMP_NUM_THREADS")
    probe = 'import os; print(os.environ["OMP_NUM_THREADS"], os.environ["EDU_CONTRAST_QUICK"])'
    executed = book.execute_all([_notebook(tmp_path / "01_good.ipynb", probe)])
    assert "".join(executed["01_good.ipynb"]["cells"][0]["outputs"][0]["text"]) == "1 1\n"
    assert os.environ.get("OMP_NUM_THREADS") == threads_before, "only the workers' environment changes"
    with pytest.raises(RuntimeError, match=r"(?s)02_bad\.ipynb: CellExecutionError.*ZeroDivisionError"):
        book.execute_all([_notebook(tmp_path / "02_bad.ipynb", "1 / 0")])


# --- slow: the built site in a browser -------------------------------------------------------------------

# Resolves once MathJax has typeset the page (Sphinx loads it only on pages with maths).
_MATHJAX_DONE = """async () => {
  if (!document.querySelector('.math.notranslate')) return false;
  for (let i = 0; i < 300 && !(window.MathJax && MathJax.startup && MathJax.startup.promise); i++)
    await new Promise(wait => setTimeout(wait, 100));
  if (window.MathJax && MathJax.startup) await MathJax.startup.promise;  // else: reported as not typeset
  return true; }"""
_MATH_STATE = """() => {
  const math = Array.from(document.querySelectorAll('.math.notranslate'));
  return {count: math.length, typeset: math.filter(m => m.querySelector('mjx-container')).length,
          errors: document.querySelectorAll('mjx-merror').length}; }"""
_BROKEN_IMAGES = (
    "() => Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
)
_OUTPUT_IMAGES = (
    "() => Array.from(document.querySelectorAll('.cell_output img')).filter(i => i.naturalWidth > 0).length"
)
_LINKS = "() => Array.from(document.querySelectorAll('a[href]'), a => a.href)"


def _write_executed(quick_runs: dict, folder: Path) -> Path:
    """The session's quick-mode runs (tests/conftest.py) as files, for `book/build.py --executed`."""
    import nbformat

    for name, run in quick_runs.items():
        assert run.error is None, f"{name} failed in quick mode:\n{run.error}"
        nbformat.write(run.nb, folder / name)
    return folder


@pytest.fixture(scope="module")
def site(tmp_path_factory, quick_runs):
    """The site built by `make book`'s script into a temporary folder, served on a free localhost port.
    The notebooks are the session's quick-mode runs (``quick_runs``), not run a second time."""
    require_chromium()
    if os.environ.get(BUILT_ENV):  # a site `make book` already built (build/book): test it as it is
        out = Path(os.environ[BUILT_ENV]).resolve()
    else:
        out = tmp_path_factory.mktemp("book")
        executed = _write_executed(quick_runs, tmp_path_factory.mktemp("executed"))
        cmd = [sys.executable, str(ROOT / "book" / "build.py"), str(out), "--executed", str(executed)]
        build = subprocess.run(cmd, capture_output=True, text=True)
        assert build.returncode == 0, f"book/build.py failed:\n{build.stdout[-3000:]}\n{build.stderr[-5000:]}"
    html_dir, port = out / "html", _free_port()
    cmd = [
        sys.executable,
        "-m",
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
        "--directory",
        str(html_dir),
    ]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(0.2)
    yield {"url": url, "html": html_dir, "src": out / "src"}
    server.terminate()
    server.wait(timeout=20)


def _pages(html_dir: Path) -> list[str]:
    """Every HTML page of the site, relative to its root (theme assets and sources aside)."""
    return sorted(
        p.relative_to(html_dir).as_posix()
        for p in html_dir.rglob("*.html")
        if not p.relative_to(html_dir).parts[0].startswith("_")
    )


def _has_figures(src: Path, page: str) -> bool:
    source = src / Path(page).with_suffix(".ipynb")
    if not source.is_file():
        return False
    cells = json.loads(source.read_text())["cells"]
    return any("image/png" in o.get("data", {}) for c in cells for o in c.get("outputs", []))


class _Links:
    """Checks internal links once each: the page answers 200 and holds the anchor."""

    def __init__(self, root: str):
        self.root, self.bodies = root, {}

    def broken(self, href: str) -> str | None:
        if not href.startswith(self.root):
            return None  # another site (GitHub, Colab, papers): not fetched offline
        page, _, anchor = href.partition("#")
        if page not in self.bodies:
            try:
                with urllib.request.urlopen(page, timeout=10) as reply:
                    self.bodies[page] = reply.read().decode("utf-8", "replace")
            except urllib.error.URLError as error:
                self.bodies[page] = error
        body = self.bodies[page]
        if isinstance(body, Exception):
            return f"{href}: {body}"
        if anchor and not re.search(rf'id="{re.escape(urllib.parse.unquote(anchor))}"', body):
            return f"{href}: no element with id {anchor!r}"
        return None


def _check_page(page, site, name: str, links: _Links) -> None:
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(site["url"] + name, wait_until="load")
    page.evaluate(_MATHJAX_DONE)
    math = page.evaluate(_MATH_STATE)
    assert math["typeset"] == math["count"] and not math["errors"], f"{name}: maths not typeset {math}"
    broken_images = page.evaluate(_BROKEN_IMAGES)
    assert not broken_images, f"{name}: images that did not load: {broken_images}"
    if _has_figures(site["src"], name):
        assert page.evaluate(_OUTPUT_IMAGES) >= 1, f"{name}: the notebook's figures are not shown"
    if name.startswith("notebooks/") and name.split("/")[1][:2] != "00":
        colab = COLAB.format(name=Path(name).with_suffix(".ipynb").name)
        button = page.locator(f'.dropdown-launch-buttons a[href="{colab}"]')  # the header's launch menu
        assert button.count() == 1, f"{name}: no Colab button to {colab}"
    broken = [b for b in map(links.broken, page.evaluate(_LINKS)) if b]
    assert not broken, f"{name}: broken internal links: {broken[:10]}"
    page.wait_for_timeout(200)  # late console messages (fonts, MathJax extensions)
    assert not errors, f"{name}: console errors: {errors}"


def _screenshot_on_failure(page, label: str):
    shots = ROOT / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"book_{label.replace('/', '_')}.png"), full_page=True)


@pytest.mark.slow
@pytest.mark.book
@pytest.mark.timeout(2400)  # builds the site first: twelve notebooks in quick mode, two at a time
def test_every_page_of_the_built_site_in_chromium(site):
    from playwright.sync_api import sync_playwright

    pages = _pages(site["html"])
    notebook_pages = [f"notebooks/{Path(n).stem}.html" for n in NOTEBOOKS]
    site_pages = ("notebooks/00_notation.html", *notebook_pages, "references.html")  # the navigation's order
    assert {"index.html", "search.html", *site_pages} <= set(pages)
    assert (site["html"] / "searchindex.js").is_file()
    links = _Links(site["url"])
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        name = "index.html"
        try:
            page.goto(site["url"] + name)
            nav = page.eval_on_selector_all(".bd-sidenav a.reference.internal", "els => els.map(e => e.href)")
            expected = [site["url"] + p for p in site_pages]
            assert nav == expected, "the navigation is not in curriculum order"
            for name in pages:  # each in a fresh context: nothing cached from the page before
                page.context.close()
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                _check_page(page, site, name, links)
            name = "search.html"
            page.goto(site["url"] + "search.html?q=temperature")
            page.wait_for_selector("#search-results li", timeout=30_000)
        except Exception:
            _screenshot_on_failure(page, name)
            raise
        finally:
            browser.close()


@pytest.mark.slow
@pytest.mark.book
def test_no_page_shows_a_reference_solution_or_a_dead_widget(site):
    assert len(EXERCISES) >= 6, "every exercise of the course is registered"
    pages = {name: (site["html"] / name).read_text() for name in _pages(site["html"])}
    assert not [n for n, text in pages.items() if book.WIDGET_VIEW in text], "widget views with no manager"
    leaks = {name: found for name, text in pages.items() if (found := leaked_solutions(text))}
    assert not leaks, f"reference solutions on the site: {leaks}"


def test_executed_copies_are_read_instead_of_run_and_a_missing_one_is_named(tmp_path):
    good = _notebook(tmp_path / "01_good.ipynb", "print(1)")
    read = book.read_executed(tmp_path)
    assert read([good])["01_good.ipynb"]["cells"][0]["source"] == "print(1)"
    with pytest.raises(RuntimeError, match=r"no executed copy of 02_missing\.ipynb"):
        read([good, tmp_path / "02_missing.ipynb"])

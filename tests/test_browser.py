"""A real browser: every notebook 01–12 in JupyterLab (one server on a free localhost port for the whole
session) and headless Chromium (Playwright driving Debian's /usr/bin/chromium). Each notebook runs top to
bottom in quick mode; then one control of each of its explorers is moved and that explorer must draw a new
figure, with no cell raising and no traceback on the page. A screenshot is saved to
build/screenshots/<notebook>.png on failure. ``EXPLORERS`` says which control; a fast test checks that it
names every explorer the notebooks call.

Without Chromium the browser tests are skipped (a student's laptop: the reason says how to install it),
but under CI (``CI=true``) a missing Chromium fails: CI installs it (.ci/run) and must never skip them."""

import json
import re
import shutil
from pathlib import Path

import pytest
from browser_lab import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CONTROL_CLASS,
    control_in,
    explorer_cell,
    images_in,
    move,
    open_and_run_all,
    require_chromium,
    running_lab,
    tracebacks,
    wait_for_new_figure,
    wait_idle,
)

from edu_contrast.utils import MODE_ENV, QUICK_ENV, SEED_ENV

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SCREENSHOTS = ROOT / "build" / "screenshots"
NOTEBOOK_ENV = {QUICK_ENV: "1", MODE_ENV: "quick", SEED_ENV: "0"}
RUN_ALL_MS, REDRAW_MS = 600_000, 120_000

# notebook → {explorer it calls: (kind of control to move, the control's description)}.
# kind: "slider" (one arrow key), "dropdown" (another entry), "toggle" (another button).
EXPLORERS = {
    "01_infonce.ipynb": {"mi_explorer": ("slider", "ρ")},
    "02_temperature.ipynb": {
        "temperature_explorer": ("slider", "τ"),
        "views_explorer": ("dropdown", "switch off"),
    },
    "03_alignment_uniformity.ipynb": {
        "snapshot_explorer": ("slider", "epoch"),
        "weight_explorer": ("slider", "λ"),
    },
    "04_collapse.ipynb": {"collapse_explorer": ("toggle", "projector")},  # on: a run it already drew
    "05_feature_suppression.ipynb": {
        "randbit_explorer": ("toggle", "τ"),
        "multidigits_explorer": ("slider", "large L"),
    },
    "06_methods.ipynb": {
        "queue_explorer": ("slider", "steps"),
        "comparison_explorer": ("dropdown", "method"),
    },
    "07_supcon.ipynb": {
        "simplex_explorer": ("slider", "classes C"),
        "noise_explorer": ("dropdown", "left panel"),
    },
    "08_generalized.ipynb": {"generalized_explorer": ("slider", "λ")},
    "09_simclr_cifar10.ipynb": {"augmentation_explorer": ("slider", "seed")},
    "10_serving.ipynb": {"similarity_explorer": ("slider", "b")},
    "11_projection_head.ipynb": {"ablation_explorer": ("slider", "epoch")},
    "12_augmentation.ipynb": {"augmentation_explorer": ("dropdown", "s")},
    "15_clip.ipynb": {"prompt_explorer": ("dropdown", "colour"), "scale_explorer": ("slider", "t")},
    "16_retrieval.ipynb": {
        "tradeoff_explorer": ("slider", "efSearch"),
        "query_explorer": ("slider", "query"),
    },
    "14_class_collapse.ipynb": {"alpha_explorer": ("slider", "α")},
    "13_negatives.ipynb": {"tau_plus_explorer": ("slider", "τ⁺"), "beta_explorer": ("slider", "β")},
}


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """JupyterLab serving a copy of the notebooks (autosave must not write outputs into the repository)."""
    require_chromium()
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "notebooks")
    with running_lab(root, NOTEBOOK_ENV) as server:
        yield server


@pytest.fixture(scope="session")
def browser(lab):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _check_explorer(page, explorer: str, kind: str, label: str) -> None:
    """Move the ``label`` control of ``explorer`` once; its own output must show a new image."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    cell = explorer_cell(page, explorer)
    control = control_in(cell, kind, label)
    control.wait_for(timeout=30_000)
    before = images_in(cell)
    assert before, f"{explorer} drew no figure before any control moved"
    move(control, kind)
    try:
        after = wait_for_new_figure(control, before, REDRAW_MS)
    except PlaywrightTimeout:
        after = before
    if not set(after) - set(before):
        pytest.fail(
            f"moving {label!r} did not redraw {explorer}; tracebacks on the page:\n{tracebacks(page)}"
        )
    wait_idle(page, REDRAW_MS)


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.parametrize("notebook", sorted(EXPLORERS))
def test_every_explorer_redraws_when_a_control_moves(lab, browser, notebook):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        open_and_run_all(page, lab, notebook, RUN_ALL_MS)
        for explorer, (kind, label) in EXPLORERS[notebook].items():
            _check_explorer(page, explorer, kind, label)
        assert not tracebacks(page), f"{notebook} shows a traceback:\n{tracebacks(page)}"
    except (Exception, pytest.fail.Exception):  # pytest.fail raises a BaseException
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{Path(notebook).stem}.png"), full_page=True)
        raise
    finally:
        page.close()
        lab.shut_down_kernels()  # one kernel at a time: memory stays low


# --- the table against the notebooks and widget modules (fast: no browser needed) ---------------------


def _explorers_called(path: Path) -> set[str]:
    cells = json.loads(path.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    return set(re.findall(r"\b(\w+_explorer)\(", code))


def test_every_notebook_has_an_entry():
    assert sorted(EXPLORERS) == [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_table_names_every_explorer_the_notebook_calls(path):
    called = _explorers_called(path)
    assert called == set(EXPLORERS.get(path.name, {})), (
        f"{path.name} calls {sorted(called)}: give each a control to move in tests/test_browser.py EXPLORERS"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_control_is_a_known_kind_labelled_in_the_package(path):
    stem = path.stem.split("_", 1)[1]
    source = "".join(
        (ROOT / "edu_contrast" / folder / f"{stem}.py").read_text() for folder in ("widgets", "lessons")
    )
    for explorer, (kind, label) in EXPLORERS[path.name].items():
        assert f"def {explorer}(" in source, f"{explorer} is not defined in widgets/{stem}.py"
        assert kind in CONTROL_CLASS, f"{explorer}: unknown kind {kind!r}"
        assert f'"{label}"' in source, f"{explorer}: no control labelled {label!r} in widgets/{stem}.py"


def test_the_table_check_catches_a_new_explorer(tmp_path):
    notebook = tmp_path / "02_temperature.ipynb"
    cells = [{"cell_type": "code", "source": ["W.temperature_explorer()\n", "W.batch_explorer(n=3)"]}]
    notebook.write_text(json.dumps({"cells": cells}))
    assert _explorers_called(notebook) == {"temperature_explorer", "batch_explorer"}
    with pytest.raises(AssertionError, match="batch_explorer"):
        test_the_table_names_every_explorer_the_notebook_calls(notebook)


# --- what happens without Chromium (fast: no browser needed) ------------------------------------------


def test_missing_chromium_is_skipped_with_the_install_command(tmp_path):
    for environ in ({}, {"CI": "false"}, {"CI": ""}):
        with pytest.raises(
            pytest.skip.Exception, match=r"missing; install it with `sudo apt-get install chromium "
        ):
            require_chromium(str(tmp_path / "chromium"), environ)


@pytest.mark.parametrize("value", ["true", "1", "TRUE", "yes"])
def test_missing_chromium_fails_under_ci(tmp_path, value):
    with pytest.raises(pytest.fail.Exception, match=r"chromium-driver.*CI must run it"):
        require_chromium(str(tmp_path / "chromium"), {"CI": value})


def test_present_chromium_runs_the_test(tmp_path):
    (tmp_path / "chromium").write_text("")
    assert require_chromium(str(tmp_path / "chromium"), {"CI": "true"}) is None

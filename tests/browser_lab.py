"""Driving JupyterLab in headless Chromium for tests/test_browser.py: start a server, open a notebook, run
it, find an explorer's cell, move one of its controls and wait for that explorer's figure to change.

The notebook panel's own state is read through ``window.jupyterapp`` (the server runs with
``--LabApp.expose_app_in_browser``); cells and widgets are found in the page by their labels."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from edu_contrast.notebook_runner import ONE_THREAD_ENV

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
INSTALL = "apt-get install chromium chromium-driver"
TOKEN = "edu-contrast-test"
# Every cell in the page at once (no virtualised notebook), no news or update checks over the network.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}
# The widget classes ipywidgets 8 gives each kind of control.
CONTROL_CLASS = {
    "slider": ".widget-hslider",
    "dropdown": ".widget-dropdown",
    "toggle": ".widget-toggle-buttons",
}


def require_chromium(path: str = CHROMIUM, environ=os.environ) -> None:
    """Return when Chromium is at ``path``; otherwise skip, or fail under CI (``CI`` set to true/1/yes)."""
    if Path(path).exists():
        return
    reason = f"{path} is missing; install it with `sudo {INSTALL}` to run the browser test"
    if environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI=true: CI must run it, and .ci/run installs it)", pytrace=False)
    pytest.skip(reason)


# ------------------------------------------------------------------------------------------- the server


@dataclass
class Lab:
    url: str  # http://127.0.0.1:PORT
    root: Path  # the server's root folder (holds notebooks/)

    def notebook_url(self, name: str) -> str:
        """A workspace of its own: the tabs of earlier notebooks are not restored (nor their kernels)."""
        return f"{self.url}/lab/workspaces/{Path(name).stem}/tree/notebooks/{name}?token={TOKEN}"

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(
            f"{self.url}/api/{path}", method=method, headers={"Authorization": f"token {TOKEN}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        """End every session (and its kernel): one notebook's kernel at a time keeps memory low."""
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_settings(folder: Path) -> None:
    for plugin, values in LAB_SETTINGS.items():
        path = folder / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _lab_environment(root: Path, notebook_env: dict[str, str]) -> dict[str, str]:
    # One BLAS/OpenMP thread: the kernel shares two cores with the browser and the server, and
    # oversubscribed OpenMP threads spin-wait (a 20x slowdown measured on a loaded 2-core machine).
    _write_settings(root / "lab-settings")
    folders = {"JUPYTERLAB_SETTINGS_DIR": str(root / "lab-settings")}
    folders["JUPYTERLAB_WORKSPACES_DIR"] = str(root / "lab-workspaces")  # no layout restored from elsewhere
    (root / "tmp").mkdir(exist_ok=True)  # the kernels' mkdtemp run folders (09, 10) stay in pytest's tmp
    folders["TMPDIR"] = str(root / "tmp")
    return dict(os.environ, **ONE_THREAD_ENV, **folders, **notebook_env)


@contextmanager
def running_lab(root: Path, notebook_env: dict[str, str]):
    """JupyterLab serving ``root`` on a free localhost port; yields a ``Lab``, stops the server after."""
    port = _free_port()
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1"]
    cmd += [f"--port={port}", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}"]
    cmd += ["--LabApp.expose_app_in_browser=True"]  # window.jupyterapp lets the test run commands
    log_path = root / "lab.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=_lab_environment(root, notebook_env)
        )
        lab = Lab(f"http://127.0.0.1:{port}", root)
        try:
            _wait_for_server(lab, server, log_path)
            yield lab
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_for_server(lab: Lab, server, log_path: Path, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            lab.api("status")
            return
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("JupyterLab did not start:\n" + log_path.read_text()[-3000:])
            time.sleep(0.5)


# -------------------------------------------------------------------------------------- the notebook

# The notebook panel's own state, not the DOM.
_CURRENT_NOTEBOOK = """(path) => { const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  return !!w && !!w.context && w.context.path === path && !!w.content; }"""
_KERNEL_IDLE = """() => { const w = window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle'; }"""
_RUN_STATE = """() => { const w = window.jupyterapp.shell.currentWidget;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const errors = cells.flatMap(c => c.model.outputs.toJSON().filter(o => o.output_type === 'error'))
                      .map(o => o.ename + ': ' + o.evalue);
  const done = cells.every(c => c.model.executionCount !== null);
  return {errors, done: done && w.sessionContext.session.kernel.status === 'idle'}; }"""
# Mark the code cells that call ``name(`` with data-explorer="name"; return how many were marked.
_TAG_CELLS = """(name) => { const w = window.jupyterapp.shell.currentWidget;
  const call = new RegExp('\\\\b' + name + '\\\\(');
  const cells = w.content.widgets.filter(
    c => c.model.type === 'code' && call.test(c.model.sharedModel.getSource()));
  cells.forEach(c => { c.node.dataset.explorer = name; });
  return cells.length; }"""
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
# A new image in the explorer's output, or a traceback anywhere on the page (no need to wait for the timeout).
_NEW_IMAGE_OR_TRACEBACK = f"""([area, before]) =>
  Array.from(area.querySelectorAll('img'), e => e.getAttribute('src')).some(src => !before.includes(src))
  || Array.from(document.querySelectorAll("{STDERR}")).some(e => e.innerText.includes('Traceback'))"""


def wait_idle(page, timeout_ms: int) -> None:
    page.wait_for_function(_KERNEL_IDLE, timeout=timeout_ms)


def open_and_run_all(page, lab: Lab, name: str, timeout_ms: int) -> None:
    """Open notebook ``name``, run all its cells, and wait until every code cell ran; fail at an error."""
    page.goto(lab.notebook_url(name))
    page.wait_for_function(_CURRENT_NOTEBOOK, arg=f"notebooks/{name}", timeout=60_000)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    wait_idle(page, 120_000)  # the kernel has started
    # Not awaited: the command's promise resolves only when every cell has run.
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    handle = page.wait_for_function(
        f"() => {{ const s = ({_RUN_STATE})(); return (s.errors.length || s.done) ? s : false; }}",
        timeout=timeout_ms,
        polling=1000,
    )
    state = handle.json_value()
    assert not state["errors"], f"{name} raised while running all cells: {state['errors']}"


def explorer_cell(page, explorer: str):
    """The one code cell that calls ``explorer(``, as a locator."""
    count = page.evaluate(_TAG_CELLS, explorer)
    assert count == 1, f"{count} code cells call {explorer}(, expected one"
    return page.locator(f".jp-CodeCell[data-explorer='{explorer}']")


def control_in(cell, kind: str, label: str):
    """The ``kind`` control whose description reads exactly ``label``, inside ``cell``."""
    exact = re.compile(rf"^\s*{re.escape(label)}\s*$")
    return cell.locator(CONTROL_CLASS[kind], has=cell.page.locator(".widget-label", has_text=exact)).first


def images_in(locator) -> list[str]:
    return locator.locator("img").evaluate_all("els => els.map(e => e.getAttribute('src'))")


def move(control, kind: str) -> None:
    """Change the control's value once, as a student would: an arrow key, another menu entry or button."""
    if kind == "slider":
        _nudge_slider(control)
    elif kind == "dropdown":
        menu = control.locator("select")
        current = menu.evaluate("el => el.selectedIndex")
        menu.select_option(index=1 if current == 0 else 0)
    else:
        control.locator("button.widget-toggle-button:not(.mod-active)").first.click()


def _nudge_slider(control) -> None:
    """One step left, or one step right when the handle already sits at the left end."""
    readout = control.locator(".widget-readout")
    before = readout.inner_text()
    control.locator(".noUi-handle").first.focus()
    control.page.keyboard.press("ArrowLeft")
    if readout.inner_text() == before:
        control.page.keyboard.press("ArrowRight")
    assert readout.inner_text() != before, "the slider did not move"


def wait_for_new_figure(control, before: list[str], timeout_ms: int) -> list[str]:
    """Until the explorer holding ``control`` shows an image that was not in the cell before the move, or
    a traceback appears on the page; return the image sources of the explorer's output then."""
    area = control.locator(
        "xpath=ancestor::div[contains(concat(' ', @class, ' '), ' jp-OutputArea-output ')][last()]"
    )
    arg = [area.element_handle(), before]
    control.page.wait_for_function(_NEW_IMAGE_OR_TRACEBACK, arg=arg, timeout=timeout_ms)
    return images_in(area)


def tracebacks(page) -> str:
    """The text of every stderr/error output on the page that shows a Python traceback."""
    texts = page.locator(STDERR).all_inner_texts()
    return "\n".join(t for t in texts if "Traceback" in t)

"""A notebook runs alone, as for a Colab student: copied into an empty folder and run in a fresh virtual
environment that has the dependencies but not edu_contrast, with ``google.colab`` imported as on Colab. Its
setup cell must install the package (from the wheel built here: ``EDU_CONTRAST_PIP_SPEC``) and the notebook
run top to bottom in quick mode, importing edu_contrast from that environment's site-packages.

Installing torch into a fresh environment costs gigabytes, so the new one borrows this one's packages: a
folder of links to every entry of this environment's site-packages except edu_contrast's own (the editable
install's finder, .pth and dist-info), put on the path by a .pth file. A folder a .pth file lists is added
to sys.path but not scanned for .pth files itself, so the editable install stays off. pip runs with
``PIP_NO_INDEX``: nothing is downloaded, and a dependency missing from the wheel's plan fails the test.

A slow test offers pip an older numpy that a package wants: the setup cell keeps numpy as installed and
stops with one line. Two quick tests run a setup cell in this environment: with an unreachable source it
stops with one line, and with the pinned version installed it installs nothing.
"""

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import nbformat
import numpy
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import edu_contrast

ROOT = Path(__file__).resolve().parents[1]
KERNEL = "colab-student"
COLAB_STUB = '''"""Stands in for Colab's google.colab (tests/test_colab.py); its Drive never mounts."""
import types


def _mount(mount_point, **kwargs):
    raise RuntimeError("no Google Drive in this simulation")


drive = types.SimpleNamespace(mount=_mount)
'''


def _own(name: str) -> bool:
    """edu_contrast's entries in site-packages: the editable finder and .pth, its dist-info."""
    return "edu_contrast" in name.replace("-", "_")


def _run(command, **kwargs) -> str:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    """(the wheel, the fresh environment's python, its site-packages, the folder its kernel spec is in)."""
    tmp = tmp_path_factory.mktemp("colab")
    _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp / "dist"), str(ROOT)])
    wheel = next((tmp / "dist").glob("edu_contrast-*.whl"))
    _run([sys.executable, "-m", "venv", "--without-pip", str(tmp / "venv")])  # pip: the borrowed one
    python = tmp / "venv" / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).strip())
    borrowed = tmp / "borrowed"
    borrowed.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not _own(entry.name) and entry.suffix != ".pth":
            (borrowed / entry.name).symlink_to(entry)
    (tmp / "stub" / "google" / "colab").mkdir(parents=True)  # a namespace portion beside protobuf's google
    (tmp / "stub" / "google" / "colab" / "__init__.py").write_text(COLAB_STUB)
    # Colab's kernel has google.colab imported before the first cell runs.
    (site / "colab_student.pth").write_text(f"{borrowed}\n{tmp / 'stub'}\nimport google.colab\n")

    # From the empty folder: `python -c` and `-m` put the working directory first on sys.path.
    listed = json.loads(_run([python, "-m", "pip", "list", "--format=json"], cwd=tmp / "stub"))
    names = {p["name"].lower().replace("_", "-") for p in listed}
    assert "torch" in names and "ipykernel" in names and "edu-contrast" not in names, names
    probe = subprocess.run(
        [python, "-c", "import edu_contrast"], capture_output=True, text=True, cwd=tmp / "stub"
    )
    assert probe.returncode != 0 and "No module named 'edu_contrast'" in probe.stderr

    spec = tmp / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    env = {
        "HOME": str(tmp / "home"),
        "TMPDIR": str(tmp / "tmp"),
        "PYTHONPATH": "",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "EDU_CONTRAST_QUICK": "1",
        "EDU_CONTRAST_SEED": "0",
    }
    for folder in ("home", "tmp"):
        (tmp / folder).mkdir()
    kernel = {
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab student",
        "language": "python",
        "env": env,
    }
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return wheel, python, site, tmp / "jupyter"


WHERE = (
    "import edu_contrast, sys\n"
    "print(edu_contrast.__file__, edu_contrast.__version__, 'google.colab' in sys.modules)"
)


# The suite runs three (the first, the GPU one with its Drive checkpoints, the one with an extra);
# EDU_CONTRAST_COLAB_ALL=1 runs every notebook alone, as before a release (README, "For maintainers").
ALONE = (
    sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if os.environ.get("EDU_CONTRAST_COLAB_ALL") == "1"
    else ["01_infonce.ipynb", "09_simclr_cifar10.ipynb", "10_serving.ipynb"]
)


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("name", ALONE)
def test_a_notebook_copied_alone_installs_the_package_and_runs(student, name, tmp_path, monkeypatch):
    wheel, python, site, jupyter = student
    extras = "[serve]" if name.startswith("10") else ""  # the spec replaces the pin, extras included
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    monkeypatch.setenv("EDU_CONTRAST_PIP_SPEC", f"edu-contrast{extras} @ {wheel.as_uri()}")
    folder = tmp_path / "student"
    folder.mkdir()
    (folder / name).write_bytes((ROOT / "notebooks" / name).read_bytes())  # alone: no checkout beside it
    nb = nbformat.read(folder / name, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(WHERE))
    NotebookClient(
        nb, timeout=600, kernel_name=KERNEL, resources={"metadata": {"path": str(folder)}}
    ).execute()

    setup_output = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert f"pip install edu-contrast{extras} @ {wheel.as_uri()}" in setup_output
    where, version, colab = "".join(o.get("text", "") for o in nb.cells[-1].outputs).split()
    assert Path(where).is_relative_to(site) and version == edu_contrast.__version__ and colab == "True"


def _setup_cell() -> nbformat.NotebookNode:
    """Notebook 01's setup cell, then a cell that says whether it ran."""
    source = nbformat.read(ROOT / "notebooks" / "01_infonce.ipynb", as_version=4)
    setup = next(c for c in source.cells if c.cell_type == "code")
    return nbformat.v4.new_notebook(cells=[setup, nbformat.v4.new_code_cell("print('ran on')")])


@pytest.mark.notebook
def test_an_install_that_fails_stops_the_notebook_with_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("EDU_CONTRAST_PIP_SPEC", "/nonexistent.whl")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    nb = _setup_cell()
    client = NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    with pytest.raises(CellExecutionError) as raised:
        client.execute()
    assert raised.value.ename == "SetupFailed"
    errors = [o for o in nb.cells[0].outputs if o.output_type == "error"]
    assert len(errors) == 1 and len(errors[0].traceback) == 1, errors  # one line, no traceback
    line = errors[0].traceback[0]
    assert line.startswith("SetupFailed: pip could not install /nonexistent.whl (Invalid wheel"), line
    assert "\n" not in line and line.endswith(
        "set EDU_CONTRAST_PIP_SPEC to a wheel or git URL of edu-contrast"
    )
    assert nb.cells[1].outputs == [], "Run all went on past the failed setup"


@pytest.mark.notebook
def test_the_setup_cell_installs_nothing_where_the_pinned_version_is_installed(tmp_path, monkeypatch):
    monkeypatch.delenv("EDU_CONTRAST_PIP_SPEC", raising=False)
    monkeypatch.setenv("EDU_CONTRAST_QUICK", "1")
    nb = _setup_cell()
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "pip install" not in printed and f"edu_contrast {edu_contrast.__version__}" in printed, printed
    assert "ran on" in nb.cells[1].outputs[0]["text"]


def _wheel(folder: Path, name: str, version: str, requires: str = "") -> Path:
    """A minimal pure-Python wheel of an empty module ``name``, requiring ``requires``."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + (f"Requires-Dist: {requires}\n" if requires else ""),
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{dist}/RECORD"])
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            archive.writestr(member, text)
    return path


@pytest.mark.slow
@pytest.mark.notebook
def test_the_setup_cell_never_downgrades_numpy(student, tmp_path, monkeypatch):
    """A package that wants an older numpy, with one on offer: pip alone would downgrade numpy (its dry run
    says so); the setup cell keeps numpy as installed, so pip fails and the cell stops with one line."""
    wheel, python, site, jupyter = student
    offered = tmp_path / "offered"
    offered.mkdir()
    _wheel(offered, "numpy", "0.0.1")
    greedy = _wheel(offered, "wants_old_numpy", "1.0", "numpy<0.1")
    dry = _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--no-index",
            "--find-links",
            str(offered),
            str(greedy),
        ],
        cwd=tmp_path,
    )
    assert "numpy-0.0.1" in dry, dry  # without the setup cell's care, pip would replace numpy
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter))
    monkeypatch.setenv("EDU_CONTRAST_PIP_SPEC", str(greedy))
    monkeypatch.setenv("PIP_FIND_LINKS", str(offered))
    nb = _setup_cell()
    nb.cells[1] = nbformat.v4.new_code_cell("import numpy\nprint(numpy.__version__)")
    client = NotebookClient(
        nb, timeout=300, kernel_name=KERNEL, resources={"metadata": {"path": str(tmp_path)}}
    )
    with pytest.raises(CellExecutionError) as raised:
        client.execute()
    assert raised.value.ename == "SetupFailed" and "(ResolutionImpossible" in raised.value.evalue, (
        raised.value
    )
    listed = json.loads(_run([python, "-m", "pip", "list", "--format=json"], cwd=tmp_path))
    assert {p["name"]: p["version"] for p in listed}["numpy"] == numpy.__version__

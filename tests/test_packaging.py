"""The repository's set-up files agree with each other."""

import ast
import functools
import importlib.metadata
import importlib.util
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
import yaml

import edu_contrast

ROOT = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}  # pip name -> conda name where they differ


def _requirements(specs):
    """'torch>=2.1' -> {'torch': '>=2.1'}"""
    out = {}
    for spec in specs:
        name, bound = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", spec).groups()
        out[name.lower()] = bound.replace(" ", "")
    return out


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = _requirements(project["dependencies"] + project["optional-dependencies"]["lab"])
    pip_side = {CONDA_NAMES.get(k, k): v for k, v in pip_side.items()}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = _requirements(d for d in env["dependencies"] if isinstance(d, str))
    conda_side.pop("python")
    conda_side.pop("pip")
    assert conda_side == pip_side


def test_dependencies_are_lower_bounded_not_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + [
        s for group in project["optional-dependencies"].values() for s in group
    ]
    for spec in specs:
        assert ">=" in spec and "==" not in spec and "<" not in spec.replace(">=", ""), spec


def test_ci_installs_the_torch_on_disk_and_runs_make_test():
    ci = (ROOT / ".ci" / "run").read_text()
    assert '"torch==2.14.1"' in ci and "make test" in ci


# One version, one repository: every pinned install and link agrees with them (tools/colab_links.py).

_links_spec = importlib.util.spec_from_file_location("colab_links", ROOT / "tools" / "colab_links.py")
colab_links = importlib.util.module_from_spec(_links_spec)
_links_spec.loader.exec_module(colab_links)


def test_the_version_lives_in_one_place_and_the_install_is_current():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["name"] == "edu-contrast"
    assert "version" not in project["project"] and project["project"]["dynamic"] == ["version"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "edu_contrast._version.__version__"
    installed = importlib.metadata.version("edu-contrast")
    assert installed == edu_contrast.__version__, f"the environment has {installed}: run `make install`"


def test_every_badge_setup_cell_and_link_agrees_with_the_setting():
    stale = [path.relative_to(ROOT).as_posix() for path in colab_links.planned()]
    assert stale == [], f"{stale} disagree with pyproject's repo and _version.py: run `make colab-links`"


def test_colab_links_points_everything_at_a_new_repository_and_version():
    text = (
        "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
        "(https://colab.research.google.com/github/old/name/blob/main/notebooks/01_infonce.ipynb)\n"
        "See [`00_notation.md`](00_notation.md#symbols) and `tests/test_packaging.py`; "
        "[the code](https://github.com/old/name/blob/main/edu_contrast/losses/infonce.py) and "
        "[lightly](https://github.com/lightly-ai/lightly/blob/master/README.md); `not/a/file.py`.\n"
        'pip install "edu-contrast[serve]==0.1.0"'
    )
    rewritten = colab_links.rewrite_markdown(
        colab_links.rewrite_text(text, "fork/copy", "9.8.7", ("old/name",)), "fork/copy", "9.8.7", ROOT
    )
    blob = "https://github.com/fork/copy/blob/v9.8.7/"
    assert (
        "https://colab.research.google.com/github/fork/copy/blob/v9.8.7/notebooks/01_infonce.ipynb"
        in rewritten
    )
    assert f"[`00_notation.md`]({blob}notebooks/00_notation.md#symbols)" in rewritten
    assert f"[`tests/test_packaging.py`]({blob}tests/test_packaging.py)" in rewritten
    assert f"[the code]({blob}edu_contrast/losses/infonce.py)" in rewritten
    assert "lightly-ai/lightly/blob/master" in rewritten and "`not/a/file.py`" in rewritten  # not ours
    assert '"edu-contrast[serve]==9.8.7"' in rewritten
    again = colab_links.rewrite_markdown(rewritten, "fork/copy", "9.8.7", ROOT)
    assert colab_links.rewrite_text(again, "fork/copy", "9.8.7") == rewritten  # idempotent


def test_colab_links_rewrites_the_install_block_and_keeps_the_extras_and_the_rest():
    old_cell = (
        "import sys\n"
        'if "google.colab" in sys.modules:\n'
        '    %pip install --quiet "edu_contrast[serve] @ git+https://github.com/x/y"\n'
        "from edu_contrast.utils import notebook_setup\n"
        'MODE = "auto"  # @param ["auto", "quick", "lab", "full"]\n'
    )
    cell = colab_links.rewrite_setup(old_cell, "9.8.7")
    assert 'PIN = "edu-contrast[serve]==9.8.7"' in cell and "git+" not in cell and "%pip" not in cell
    assert cell.endswith(old_cell[old_cell.index("from edu_contrast.utils") :])
    assert colab_links.rewrite_setup(cell, "9.8.7") == cell
    assert 'PIN = "edu-contrast==9.8.7"' in colab_links.rewrite_setup(
        old_cell.replace("[serve]", ""), "9.8.7"
    )
    with pytest.raises(ValueError, match="notebook_setup"):
        colab_links.rewrite_setup("import sys\n", "9.8.7")


# Every import is declared: the package's top-level imports by its dependencies (serve/ by the serve
# extra), imports inside functions by some extra, and each notebook's by what its setup cell installs.

PROVIDED_BY = {"starlette": "fastapi"}  # FastAPI is Starlette; serve/app.py imports Starlette's errors
OPTIONAL = {"google"}  # google.colab: only inside Colab, imported behind in_colab()


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"^[A-Za-z0-9_.\-]+", requirement).group(0)).lower()


@functools.cache
def _packages_distributions() -> dict:
    return importlib.metadata.packages_distributions()  # slow: every installed distribution's file list


def _distribution(module: str) -> str:
    top = module.split(".")[0]
    if top in PROVIDED_BY:
        return PROVIDED_BY[top]
    found = _packages_distributions().get(top)
    assert found, f"{module} is imported but no installed distribution provides it"
    return _name(found[0])


def _imports(tree: ast.AST) -> tuple[set[str], set[str]]:
    """(module-level imports, imports inside functions or try blocks) of third-party modules."""
    top = {id(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))}
    found = (set(), set())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("edu_contrast"):
                found[0 if id(node) in top else 1].add(name)
    return found


def test_every_module_the_package_imports_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {_name(r) for r in project["dependencies"]}
    extras = {k: {_name(r) for r in v} for k, v in project["optional-dependencies"].items()}
    for path in sorted((ROOT / "edu_contrast").rglob("*.py")):
        top, nested = _imports(ast.parse(path.read_text()))
        allowed = base | extras["serve"] if "serve" in path.parts else base
        for module in top:
            assert _distribution(module) in allowed, (
                f"{path.name} imports {module}: declare it in dependencies"
            )
        for module in nested - top:
            if module.split(".")[0] not in OPTIONAL:
                assert _distribution(module) in base.union(*extras.values()), f"{path.name}: declare {module}"


def test_every_module_a_notebook_imports_is_installed_by_its_setup_cell():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        pin = re.search(r'PIN = "edu-contrast(?:\[([\w,-]+)\])?==', code)
        assert pin, f"{path.name}: no pinned setup cell"
        allowed = {_name(r) for r in project["dependencies"]}
        for extra in filter(None, (pin.group(1) or "").split(",")):
            allowed |= {_name(r) for r in project["optional-dependencies"][extra]}
        tree = ast.parse(re.sub(r"^\s*[%!].*$", "", code, flags=re.MULTILINE))  # no magics
        top, nested = _imports(tree)
        for module in top | nested:
            assert _distribution(module) in allowed, f"{path.name} imports {module}, its setup cell lacks it"


@pytest.mark.slow
def test_sdist_and_wheel_build_and_pass_twine_check(tmp_path):
    """``python -m build`` (the sdist, then the wheel built from it) and ``twine check --strict``, as the
    release workflow runs them; the wheel carries the package and its version, and no tests."""
    run = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)]
    subprocess.run(run, check=True, capture_output=True)
    version = edu_contrast.__version__
    sdist, wheel = (
        tmp_path / f"edu_contrast-{version}.tar.gz",
        tmp_path / f"edu_contrast-{version}-py3-none-any.whl",
    )
    assert sdist.is_file() and wheel.is_file(), sorted(p.name for p in tmp_path.iterdir())
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(sdist), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    names = zipfile.ZipFile(wheel).namelist()
    assert "edu_contrast/losses/infonce.py" in names and not any(n.startswith("tests/") for n in names)
    metadata = zipfile.ZipFile(wheel).read(f"edu_contrast-{version}.dist-info/METADATA").decode()
    assert "Name: edu-contrast" in metadata and f"Version: {version}" in metadata
    for requirement in ("torch>=2.1", "pandas>=1.5", "scipy>=1.10", "ipython>=7.0"):
        assert f"Requires-Dist: {requirement}" in metadata


def test_the_release_workflow_builds_checks_tests_and_publishes_on_a_version_tag():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    assert workflow[True] == {"push": {"tags": ["v*"]}}  # YAML reads the key `on` as True
    steps = {
        name: [s.get("run", "") + s.get("uses", "") for s in job["steps"]]
        for name, job in workflow["jobs"].items()
    }
    assert any("colab_links.py --check" in s for s in steps["build"])
    assert any("python -m build" in s for s in steps["build"]) and any(
        "twine check" in s for s in steps["build"]
    )
    assert any("pytest" in s for s in steps["test"]) and workflow["jobs"]["test"]["needs"] == "build"
    publish = workflow["jobs"]["publish"]
    assert publish["needs"] == "test" and publish["permissions"] == {
        "id-token": "write"
    }  # trusted publishing
    assert any(s.startswith("pypa/gh-action-pypi-publish") for s in steps["publish"])

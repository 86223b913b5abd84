"""The repository's set-up files agree with each other."""

import re
from pathlib import Path

import tomllib
import yaml

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

"""One setting, every link: badges, setup cells and links point at one repository and one release.

The repository is pyproject.toml's ``[tool.edu_contrast] repo``; the release is ``v`` + the version in
edu_contrast/_version.py. ``make colab-links REPO=owner/name`` (this script with ``--repo``) records a new
repository and rewrites, from those two values:

- every Colab badge (README, notebooks, book, docs): colab.research.google.com/github/<repo>/blob/v<version>;
- every notebook's setup cell: the install block, pinned to ``edu-contrast[<its extras>]==<version>``;
- links from a notebook's markdown to files of the checkout (``00_notation.md``, a test, a doc), and code
  spans naming such a file: absolute GitHub links at the release tag, so a notebook opened alone (Colab,
  a download) has no dead link; GitHub links to the repository in README, book and docs: pinned the same way;
- book/conf.py's repository and branch (the course site's Colab button), and ``edu-contrast==X.Y.Z`` pins.

``--check`` writes nothing and exits 1 naming the files that disagree (tests/test_packaging.py runs it).
Release: bump edu_contrast/_version.py, ``make colab-links``, commit, tag ``v<version>`` and push the tag
(.github/workflows/release.yml publishes it), so every pinned link and install resolves.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP_IMPORT = "from edu_contrast.utils import notebook_setup"  # the setup cell's install block ends here

# Runs before the package exists, so it is written out in every notebook; {pin} is the pinned requirement.
SETUP_BLOCK = """\
# Setup: installs the edu_contrast release this notebook was tested with unless it is there (`make lab`);
# set EDU_CONTRAST_PIP_SPEC (a wheel, a git URL, any pip requirement) to install it from another source.
import os, subprocess, sys
from importlib import invalidate_caches
from importlib.metadata import PackageNotFoundError, version
PIN = "{pin}"
def installed(name):
    try:
        return version(name)
    except PackageNotFoundError:
        return None
class SetupFailed(Exception):  # shown as one line, not a traceback; "Run all" stops here
    _render_traceback_ = lambda self: [f"SetupFailed: {{self}}"]
spec = os.environ.get("EDU_CONTRAST_PIP_SPEC") or PIN
if spec != PIN or installed("edu-contrast") != PIN.split("==")[1]:
    print(f"pip install {{spec}}", flush=True)
    # torch, torchvision and numpy stay as installed (Colab's CUDA builds): pip must not replace them
    keep = [f"{{n}}=={{installed(n)}}" for n in ("torch", "torchvision", "numpy") if installed(n)]
    pip_install = [sys.executable, "-m", "pip", "install", "-q", "--no-color", spec, *keep]
    pip = subprocess.run(pip_install, capture_output=True, text=True)
    if pip.returncode:
        errors = [e.removeprefix("ERROR: ") for e in pip.stderr.splitlines() if e.startswith("ERROR")]
        why = errors[-1] if errors else "see pip's log"
        raise SetupFailed(f"pip could not install {{spec}} ({{why}}): check the network, or set "
                          "EDU_CONTRAST_PIP_SPEC to a wheel or git URL of edu-contrast")
    invalidate_caches()
"""

COLAB = re.compile(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[^/\s)\"']+/")
PIN = re.compile(r"edu-contrast(\[[\w,-]+\])?==\d+\.\d+\.\d+[\w.+-]*")
EXTRAS = re.compile(r"edu[-_]contrast(\[[\w,-]+\])?\s*(?:@|==)")
RELATIVE_LINK = re.compile(r"\]\((?![a-z]+:|#)([^)\s#]+)(#[^)\s]*)?\)")
FILE_SPAN = re.compile(r"(?<!\[)`([\w./-]+\.\w+)`(?!\]\()")


def settings(root: Path = ROOT) -> tuple[str, str]:
    """(repo, version): pyproject's ``[tool.edu_contrast] repo`` and edu_contrast/_version.py's version."""
    pyproject = (root / "pyproject.toml").read_text()  # read with a pattern: tomllib needs Python 3.11
    repo = re.search(r'^\[tool\.edu_contrast\]\nrepo = "([^"]+)"', pyproject, re.MULTILINE).group(1)
    version = re.search(r'__version__ = "([^"]+)"', (root / "edu_contrast/_version.py").read_text()).group(1)
    return repo, version


def blob_url(repo: str, version: str, path: str) -> str:
    """The file at ``path`` (from the repository root) on GitHub, at the release tag."""
    return f"https://github.com/{repo}/blob/v{version}/{path}"


def colab_url(repo: str, version: str, notebook: str) -> str:
    """The Colab badge's target for ``notebook`` (a file name in notebooks/)."""
    return f"https://colab.research.google.com/github/{repo}/blob/v{version}/notebooks/{notebook}"


def rewrite_text(text: str, repo: str, version: str, old_repos: tuple[str, ...] = ()) -> str:
    """Colab badges, GitHub links to the repository (or one of ``old_repos``) and pins, at the release."""
    text = COLAB.sub(f"https://colab.research.google.com/github/{repo}/blob/v{version}/", text)
    for old in {repo, *old_repos}:
        text = re.sub(
            rf"https://github\.com/{re.escape(old)}/(blob|tree)/[^/\s)]+/",
            rf"https://github.com/{repo}/\1/v{version}/",
            text,
        )
    return PIN.sub(lambda m: f"edu-contrast{m.group(1) or ''}=={version}", text)


def setup_block(extras: str, version: str) -> str:
    """The install part of a setup cell, pinned to ``edu-contrast<extras>==version``."""
    return SETUP_BLOCK.format(pin=f"edu-contrast{extras}=={version}")


def rewrite_setup(source: str, version: str) -> str:
    """A setup cell with its install block (all above ``SETUP_IMPORT``) rewritten, its extras kept."""
    head, found, tail = source.partition(SETUP_IMPORT)
    if not found:
        raise ValueError(f"the setup cell has no line {SETUP_IMPORT!r}")
    extras = EXTRAS.search(head)
    return setup_block((extras.group(1) or "") if extras else "", version) + found + tail


def _repo_path(target: str, root: Path) -> str | None:
    """``target`` as a path from the repository root when it names a file of the checkout (from notebooks/
    or from the root), else None."""
    for base in (root / "notebooks", root):
        path = (base / target).resolve()
        if path.is_file() and path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return None


def rewrite_markdown(text: str, repo: str, version: str, root: Path) -> str:
    """A notebook's markdown: links and code spans naming files of the checkout become release links."""

    def link(match):
        path = _repo_path(match.group(1), root)
        return match.group(0) if path is None else f"]({blob_url(repo, version, path)}{match.group(2) or ''})"

    def span(match):
        path = _repo_path(match.group(1), root)
        return match.group(0) if path is None else f"[`{match.group(1)}`]({blob_url(repo, version, path)})"

    return FILE_SPAN.sub(span, RELATIVE_LINK.sub(link, text))


def rewrite_notebook(text: str, repo: str, version: str, old_repos=(), root: Path = ROOT) -> str:
    """A notebook file's text with its setup cell (the first code cell) and markdown links rewritten."""
    nb = json.loads(text)
    first_code = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    for i, cell in enumerate(nb["cells"]):
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            source = rewrite_markdown(rewrite_text(source, repo, version, old_repos), repo, version, root)
        elif i == first_code:
            source = rewrite_setup(source, version)
        cell["source"] = source.splitlines(keepends=True)
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def rewrite_conf(text: str, repo: str, version: str) -> str:
    """book/conf.py: the site's repository and branch (the Colab button opens the notebook at the tag)."""
    text = re.sub(r'("repository_url": )"[^"]*"', rf'\1"https://github.com/{repo}"', text)
    return re.sub(r'("repository_branch": )"[^"]*"', rf'\1"v{version}"', text)


def planned(root: Path = ROOT, old_repos: tuple[str, ...] = ()) -> dict[Path, str]:
    """The new text of every file the setting decides that differs from the file on disk."""
    repo, version = settings(root)
    texts = {
        p: rewrite_notebook(p.read_text(), repo, version, old_repos, root)
        for p in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    }
    for path in [root / "README.md", root / "book/index.md", *sorted((root / "docs").glob("*.md"))]:
        texts[path] = rewrite_text(path.read_text(), repo, version, old_repos)
    texts[root / "book/conf.py"] = rewrite_conf((root / "book/conf.py").read_text(), repo, version)
    return {path: text for path, text in texts.items() if text != path.read_text()}


def set_repo(repo: str, root: Path = ROOT) -> str:
    """Record ``repo`` in pyproject.toml's ``[tool.edu_contrast]``; return the repository it replaced."""
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise SystemExit(
            f"REPO must be GitHub's owner/name, e.g. edu-contrast/edu_contrast. Got {repo!r} instead."
        )
    old, _ = settings(root)
    pyproject = root / "pyproject.toml"
    text = re.sub(r'(\[tool\.edu_contrast\]\nrepo = )"[^"]*"', rf'\1"{repo}"', pyproject.read_text())
    pyproject.write_text(text)
    return old


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", help="owner/name of the GitHub repository (recorded in pyproject.toml)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file disagrees")
    args = parser.parse_args(argv)
    old_repos = (set_repo(args.repo),) if args.repo and not args.check else ()
    changes = planned(ROOT, old_repos)
    for path in changes:
        print(f"{'stale' if args.check else 'rewrote'}: {path.relative_to(ROOT)}")
        if not args.check:
            path.write_text(changes[path])
    repo, version = settings()
    if args.check and changes:
        print(f"run `make colab-links` to point them at {repo} v{version}", file=sys.stderr)
    return 1 if args.check and changes else 0


if __name__ == "__main__":
    sys.exit(main())

"""The documents that describe the notebooks say what the notebooks hold, so they cannot go stale unnoticed.

- docs/instructors.md: one answer per question of each notebook's "Questions to think about", numbered as
  there, each opening with the question's first words in italics;
- notebooks/README.md: every notebook, with the Colab badge its own first cell carries, and no promise of
  solution cells (the notebooks ship stubs);
- notebook 12: the z and Kolmogorov–Smirnov thresholds its text derives are the ones its check cell uses.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ITEM = re.compile(r"^(\d+)\. (.*?)(?=^\d+\. |\Z)", re.MULTILINE | re.DOTALL)


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def lead(question: str, words: int = 5) -> str:
    """The first words of a question, as the answer key quotes them (no '*', no half of a $…$)."""
    taken = question.replace("*", "").split()[:words]
    if " ".join(taken).count("$") % 2:
        taken = taken[: next(i for i, word in enumerate(taken) if "$" in word)]
    return " ".join(taken)


def notebook_questions(path: Path) -> dict[str, str]:
    """Question number → its first words, from the notebook's "Questions to think about" (empty if none)."""
    for cell in _cells(path):
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "Questions to think about" in text:
            return {n: lead(q) for n, q in ITEM.findall(text.split("Questions to think about", 1)[1])}
    return {}


def answer_keys(doc: str) -> dict[str, dict[str, str]]:
    """Notebook number → {answer number → the italic lead it opens with ('' if none)}."""
    keys = doc.split('## Answer keys: "Questions to think about"', 1)[1]
    sections = re.split(r"^### (\d\d) .*$", keys, flags=re.MULTILINE)
    found = {}
    for number, body in zip(sections[1::2], sections[2::2]):
        items = ITEM.findall(body.split("\n## ", 1)[0])
        found[number] = {n: (re.match(r"\*(.+?)…\*", a) or [None, ""])[1] for n, a in items}
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_answer_key_answers_the_questions_the_notebook_asks(path):
    keys = answer_keys((ROOT / "docs" / "instructors.md").read_text(encoding="utf-8"))
    number = path.name[:2]
    assert number in keys, f"docs/instructors.md has no '### {number} …' answer key"
    asked = notebook_questions(path)
    assert keys[number] == asked, (
        f"docs/instructors.md's answers for {path.name} (number → first words) do not match its questions:\n"
        f"answers:   {keys[number]}\nquestions: {asked}"
    )


def test_the_check_catches_an_answer_key_that_answers_other_questions():
    doc = (
        '## Answer keys: "Questions to think about"\n### 04 Collapse\n1. *For unit vectors…* x\n2. *The…* y\n'
    )
    assert answer_keys(doc)["04"] == {"1": "For unit vectors", "2": "The"}
    assert lead("Construct a $Z$ by hand that has") == "Construct a $Z$ by hand"
    assert lead("Every head here outputs $d = 128$; VICReg's") == "Every head here outputs"


def _readme() -> str:
    return (ROOT / "notebooks" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_notebooks_readme_lists_every_notebook_with_its_own_badge(path):
    intro = "".join(_cells(path)[0]["source"])
    badge = re.search(r"\]\((https://colab\.research\.google\.com/github/[^)]+)\)", intro).group(1)
    row = next((line for line in _readme().splitlines() if f"]({path.name})" in line), None)
    assert row is not None, f"notebooks/README.md does not list {path.name}"
    assert f"]({badge})" in row, f"notebooks/README.md's badge for {path.name} differs from the notebook's"


def test_the_notebooks_readme_promises_no_solution_cells():
    text = " ".join(_readme().split())
    assert not re.search(r"solution in a cell|ships with the solution|Solution — try it yourself", text)
    assert all("NotImplementedError" in "".join(c["source"]) for c in _exercise_stubs()), (
        "stubs hold the raise"
    )
    assert "stub" in text and "make solutions" in text


def _exercise_stubs() -> list[dict]:
    return [
        cell
        for path in NOTEBOOKS
        for cell in _cells(path)
        if cell["cell_type"] == "code" and "".join(cell["source"]).startswith("# Exercise:")
    ]


def test_notebook_12_states_the_thresholds_its_check_uses():
    cells = _cells(ROOT / "notebooks" / "12_augmentation.ipynb")
    text = " ".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    z_critical = float(re.search(r"^Z_CRITICAL = ([\d.]+)", code, re.MULTILINE).group(1))
    ks_alpha = float(re.search(r"^KS_ALPHA = ([\de.-]+)", code, re.MULTILINE).group(1))
    assert "math.sqrt(-0.5 * math.log(KS_ALPHA / 2))" in code, "the KS constant c(α) = √(−½ ln(α/2))"
    assert f"|z| < {z_critical:g}" in text
    z_alpha = math.erfc(z_critical / math.sqrt(2))
    mantissa, exponent = f"{z_alpha:.1e}".split("e")
    assert f"{mantissa}·10⁻{_superscript(-int(exponent))}" in text, (
        "the z threshold's α as the text states it"
    )
    assert f"α = 10⁻{_superscript(-round(math.log10(ks_alpha)))}" in text
    assert f"c = {math.sqrt(-0.5 * math.log(ks_alpha / 2)):.3f}" in text


def _superscript(number: int) -> str:
    return str(number).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))

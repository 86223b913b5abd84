"""One citation key per paper everywhere a student reads, and a references page that every notebook links.

Keys are author–year as published: Intriguing Properties of Contrastive Losses is "Chen, Luo & Li 2021"
(NeurIPS 2021), SimCLR is "Chen et al. 2020"; book/references.md gives each cited paper in full.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REFERENCES = ROOT / "book" / "references.md"
TEXTS = [
    *NOTEBOOKS,
    *sorted((ROOT / "notebooks").glob("*.md")),
    ROOT / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
    *sorted((ROOT / "book").glob("*.md")),
    *sorted((ROOT / "edu_contrast").rglob("*.py")),
]

# A variant that once named a paper under a second key → the key to write instead.
FORBIDDEN = {
    r"\bChen et al\.\s+\(?2020[ab]\b": "Chen et al. 2020 (SimCLR) or Chen, Luo & Li 2021 (Intriguing)",
    r"\bChen,\s+Luo\s+&\s+Li\s+\(?2020": "Chen, Luo & Li 2021 (NeurIPS 2021)",
    r"\bChen et al\.\s+\(?2021\b": "Chen, Luo & Li 2021",
    r"\bChen et al\.\s+\(?2020\)?,?\s+\(?\"?Intriguing": "Chen, Luo & Li 2021",
    r"(?<![Dd]en )\bOord et al\.": "van den Oord et al. 2018",
    r"\bBardes et al\.\s+2022": "Bardes, Ponce & LeCun 2022",
    r"\bHadsell et al\.\s+2006": "Hadsell, Chopra & LeCun 2006",
    r"\bPapyan et al\.\s+2020": "Papyan, Han & Donoho 2020",
}
# An author-year citation in running text: "Wang & Isola 2020", "Chen, Luo & Li (2021", "Jing et al. 2022".
AUTHOR = r"(?:van den )?[A-Z][A-Za-z-]+"
TWO_LEADS = r"[A-Z][a-z-]+, [A-Z][a-z-]+ et al\."  # "Chen, Fu et al.": two lead authors, plain surnames
CITATION = re.compile(
    rf"\b({TWO_LEADS}|{AUTHOR}(?: et al\.|(?:, {AUTHOR})*,? & {AUTHOR})?) \(?((?:19|20)\d\d)\b"
)
NOT_PAPERS = {"Python 2026", "Xeon 2026"}  # author-year look-alikes that are not citations


def text_of(path: Path) -> str:
    """What a reader sees: a notebook's cells joined, any other file as is; whitespace collapsed."""
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".ipynb":
        raw = "\n".join("".join(cell["source"]) for cell in json.loads(raw)["cells"])
    return " ".join(raw.split())


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


# Notebooks whose text another change of issue 25 still has to fix (xfail, strict): none left.
NOT_YET: dict[str, str] = {}


def _param(path: Path):
    reason = NOT_YET.get(path.name)
    return pytest.param(
        path, id=_relative(path), marks=[pytest.mark.xfail(reason=reason, strict=True)] if reason else []
    )


@pytest.mark.parametrize("path", [_param(p) for p in TEXTS])
def test_one_key_per_paper(path):
    text = text_of(path)
    found = [
        f"{match.group(0)!r} (write {key})"
        for pattern, key in FORBIDDEN.items()
        for match in re.finditer(pattern, text)
    ]
    assert not found, f"{_relative(path)} cites a paper under a second key: {'; '.join(found)}"


def cited_keys(text: str) -> set[str]:
    return {f"{a} {y}" for a, y in CITATION.findall(text)} - NOT_PAPERS


def test_the_references_page_lists_every_key_the_notebooks_cite():
    listed = set(re.findall(r"^- \*\*(.+?)\.\*\*", REFERENCES.read_text(encoding="utf-8"), re.MULTILINE))
    student_texts = [*NOTEBOOKS, ROOT / "notebooks" / "00_notation.md", ROOT / "README.md"]
    missing = {
        key: _relative(path)
        for path in student_texts
        for key in cited_keys(text_of(path))
        if key not in listed
    }
    assert not missing, f"cited but not on book/references.md: {missing}"


@pytest.mark.parametrize("path", [_param(p) for p in NOTEBOOKS])
def test_every_notebook_links_the_references_page(path):
    markdown = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "markdown"]
    links = re.findall(r"\]\((\S+?)\)", "".join("".join(c["source"]) for c in markdown))
    assert any(link.endswith("book/references.md") for link in links), f"{path.name}: no link to references"


def test_the_references_page_is_in_the_sites_table_of_contents():
    index = (ROOT / "book" / "index.md").read_text()
    toctree = index[index.index("```{toctree}") :]
    assert re.search(r"^references$", toctree, re.MULTILINE)


def test_the_checks_catch_the_old_keys():
    old = 'Chen et al. 2020b; Chen, Luo & Li (2020b, A.2); Chen et al. 2021; Chen et al. 2020 ("Intriguing'
    caught = [p for p in FORBIDDEN if re.search(p, old)]
    assert len(caught) == 4
    assert cited_keys("as Chen, Luo & Li (2021, Fig. 7) and Wang & Isola 2020 show") == {
        "Chen, Luo & Li 2021",
        "Wang & Isola 2020",
    }
    assert cited_keys("Chen, Fu et al. 2022 add a term") == {"Chen, Fu et al. 2022"}  # two lead authors

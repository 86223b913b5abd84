"""The README quotes docs/benchmarks.md's numbers, and the docs speak of measurements, not of work history.

docs/benchmarks.md opens with a table of the current results (each with command, machine and date); the
README repeats some of them: the Fashion-MNIST default run against lightly, two of its options and the
``/embed`` latencies. These tests read the numbers out of both files and fail when the README's differ
from the table's, when the table's headline disagrees with the per-seed runs it summarises, or when the
README quotes an accuracy or a latency that the table does not hold. What BatchNorm calibration buys is
stated in docs/benchmarks.md and in ``FitConfig.calibrate_bn``'s docstring: one test holds both to the same
numbers, and those numbers to the runs.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BENCHMARKS = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
N = r"(\d+(?:\.\d+)?)"  # one number, captured as written: "0.8970", "132", "2.02"


def prose(text: str) -> str:
    """``text`` with every run of whitespace (line breaks included) as one space, for regexes over prose."""
    return " ".join(text.split())


def table_after(text: str, heading: str) -> list[dict[str, str]]:
    """The first Markdown table after ``heading`` in ``text``: one ``{column: cell}`` dict per row."""
    assert heading in text, f"docs/benchmarks.md has no heading {heading!r}"
    lines = text[text.index(heading) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines[start:end]]
    header, rows = cells[0], cells[2:]  # cells[1] is the | --- | line
    return [dict(zip(header, row)) for row in rows]


RESULTS = table_after(BENCHMARKS, "## Current results")


def result(what: str) -> dict[str, str]:
    """The row of the current-results table whose "what" cell starts with ``what``."""
    rows = [row for row in RESULTS if row["what"].startswith(what)]
    assert len(rows) == 1, f"the current-results table needs one row starting {what!r}; found {len(rows)}"
    return rows[0]


def quoted(pattern: str, text: str, where: str) -> tuple[str, ...]:
    """The numbers ``pattern`` captures in ``text`` (whitespace-normalised), as written there."""
    match = re.search(pattern, prose(text).replace("**", ""))
    assert match, f"{where} no longer matches {pattern!r}: update it and this test together"
    return match.groups()


def test_benchmarks_md_opens_with_the_current_results_table():
    headings = re.findall(r"^## .*", BENCHMARKS, flags=re.MULTILINE)
    assert headings[0] == "## Current results"
    assert {"what", "result", "command", "machine", "date"} <= set(RESULTS[0])
    for row in RESULTS:
        measured = "not measured" not in row["result"]
        assert not measured or re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["date"]), row  # the measurement's date
        assert not measured or row["command"] not in ("", "—"), row
        assert not measured or row["machine"] not in ("", "—"), row


def test_every_benchmark_script_has_a_section():
    scripts = sorted(
        p.name for p in (ROOT / "benchmarks").glob("*.py") if re.match(r"bench_|profile_", p.name)
    )
    assert scripts, "no benchmark scripts found"
    missing = [name for name in scripts if f"## `{name}`" not in BENCHMARKS]
    assert not missing, f"docs/benchmarks.md has no section for {missing}"


def test_fashion_mnist_default_run_in_the_readme_is_the_table_s():
    row = result("SimCLR on Fashion-MNIST, CLI defaults")
    accuracy_and_time = quoted(rf"{N}–{N} in {N}–{N} s", row["result"], "the table's result")
    lightly_and_lead = quoted(
        rf"{N}–{N} \(CLI \+{N} to \+{N} points\)", row["peer (same run)"], "the table's peer"
    )
    readme = README[README.index("## Command line") :]
    assert quoted(rf"linear-probe accuracy of {N}–{N} in {N}–{N} s", readme, "README") == accuracy_and_time
    assert quoted(rf"views reaches {N}–{N} \({N}–{N} points behind\)", readme, "README") == lightly_and_lead


def test_the_headline_ranges_are_those_of_the_per_seed_runs():
    runs = table_after(BENCHMARKS, "## `bench_vs_lightly.py`")
    cli = [
        quoted(rf"^{N}, {N} s$", run["CLI: accuracy, process start to exit"], "a seed's CLI cell")
        for run in runs
    ]
    lightly = [
        float(quoted(rf"^{N} \(", run["lightly at the same wall time (steps)"], "a seed's cell")[0])
        for run in runs
    ]
    leads = [float(run["lead"]) for run in runs]
    accuracy, seconds = [float(a) for a, _ in cli], [float(s) for _, s in cli]
    for a, b, lead in zip(accuracy, lightly, leads):
        assert lead == pytest.approx(100 * (a - b), abs=0.006), (a, b, lead)  # the lead is the difference
    row = result("SimCLR on Fashion-MNIST, CLI defaults")
    headline = quoted(rf"{N}–{N} in {N}–{N} s", row["result"], "the table's result")
    assert headline == (
        f"{min(accuracy):.4f}",
        f"{max(accuracy):.4f}",
        f"{min(seconds):.0f}",
        f"{max(seconds):.0f}",
    )
    peer = quoted(rf"{N}–{N} \(CLI \+{N} to \+{N} points\)", row["peer (same run)"], "the table's peer")
    assert peer == (f"{min(lightly):.4f}", f"{max(lightly):.4f}", f"{min(leads):.2f}", f"{max(leads):.2f}")


def test_the_options_and_the_reference_the_readme_quotes_are_the_table_s():
    wide = quoted(rf"^{N} in {N} s$", result("the same with h of size 1024")["result"], "the h 1024 row")
    assert quoted(rf"`--feature-dim 1024` the run reaches {N} in {N} s", README, "README") == wide
    on, off = quoted(
        rf"^{N} / {N} \(`--no-calibrate-bn`\)$", result("the default run, seed 0")["result"], "row"
    )
    assert quoted(rf"running averages: {N} instead of {N} for seed 0", README, "README") == (off, on)
    pixels = result("Fashion-MNIST reference: logistic regression on the raw pixels")["result"]
    assert quoted(rf"raw pixels gives {N}", README, "README") == (pixels,)


def test_embed_latencies_in_the_readme_are_the_table_s():
    row = result("`POST /embed` over HTTP, onnx-int8, p50")
    int8 = quoted(rf"ConvNet {N} ms, ResNet-18 {N} ms", row["result"], "the /embed row")
    torch_ = quoted(rf"torch backend: {N} ms, {N} ms", row["peer (same run)"], "the /embed row's peer")
    readme = quoted(
        rf"median {N} ms for the Fashion-MNIST ConvNet and {N} ms for the CIFAR ResNet-18 with `onnx-int8` "
        rf"\({N} ms and {N} ms with `torch`",
        README,
        "README",
    )
    assert readme == int8 + torch_
    served = {
        (r["encoder"].split()[0], r["backend"]): r["p50 (ms)"]
        for r in table_after(BENCHMARKS, "## `bench_serve.py`")
    }
    assert (served["convnet-w16", "onnx-int8"], served["resnet18", "onnx-int8"]) == int8
    assert (served["convnet-w16", "torch"], served["resnet18", "torch"]) == torch_


def test_every_accuracy_and_latency_the_readme_quotes_is_in_the_results_table():
    in_table = set(re.findall(r"\d+\.\d+", " ".join(" ".join(row.values()) for row in RESULTS)))
    accuracies = re.findall(r"\b(0\.\d{4})\b", README)  # 0.8970
    latencies = re.findall(r"\b(\d+\.\d+) ms\b", prose(README))  # 2.02 ms; "27.5" of "68.1 and 27.5 ms"
    assert accuracies and latencies, (
        "the README quotes no benchmark numbers any more: drop this test with them"
    )
    missing = [number for number in accuracies + latencies if number not in in_table]
    assert not missing, f"README quotes {missing}, which docs/benchmarks.md's current-results table lacks"


HISTORY = [
    r"\btoday'?s?\b",
    r"\bthis (week|session|task)\b",
    r"\b(first|second|third|fourth|fifth) session\b",
    r"\b(earlier|previous|old) defaults?\b",
    r"\bwe tried\b",
    r"\bin two runs on\b",
    r"\bno GPU was (lent|available)\b",
    r"\(issue \d+",
]


@pytest.mark.parametrize("path", ["README.md", "docs/benchmarks.md", "docs/architecture.md"])
def test_docs_speak_of_measurements_not_of_who_worked_when(path):
    text = prose((ROOT / path).read_text(encoding="utf-8"))
    found = [m.group(0) for pattern in HISTORY for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    assert not found, f"{path} speaks of its own history: {found}"


def test_the_documented_default_run_is_the_code_s():
    from edu_contrast.train.defaults import DATASET_DEFAULTS, METHOD_DEFAULTS

    fm, tau = DATASET_DEFAULTS["fashion-mnist"], METHOD_DEFAULTS["simclr"]["temperature"]
    readme = quoted(
        rf"\({N} epochs of a SmallConvNet with h of size {N} whose last convolution runs at stride {N}, "
        rf"trained on {N}×{N} views",
        README,
        "README",
    )
    assert readme == tuple(
        str(v) for v in (fm["epochs"], fm["feature_dim"], fm["last_stride"], *[fm["view_size"]] * 2)
    )
    section = BENCHMARKS[BENCHMARKS.index("## `bench_vs_lightly.py`") :]
    documented = quoted(
        rf"SmallConvNet width {N}, h of size {N}, last convolution at stride {N}, {N}×{N} views, {N} epochs, "
        rf"batch {N}, AdamW 3·10⁻³, τ = {N}",
        section,
        "docs/benchmarks.md's bench_vs_lightly section",
    )
    code = (fm["width"], fm["feature_dim"], fm["last_stride"], fm["view_size"], fm["view_size"], fm["epochs"])
    assert documented == tuple(str(v) for v in (*code, fm["batch_size"], tau))
    assert fm["lr"] == 3e-3 and fm["calibrate_bn"], (
        "the documented run has lr 3·10⁻³ and BatchNorm calibration"
    )


def calibration_claims(text: str, where: str) -> dict[str, tuple[str, ...]]:
    """The numbers a statement of what BatchNorm calibration buys gives, as written in ``text``."""
    return {
        "no gain": quoted(r"\bno (?:measured )?gain\b", text, where),  # () when present
        "calibrated seeds": quoted(rf"seeds 0–2 give {N}–{N}", text, where),
        "seed 0 without / with": quoted(
            rf"only seed 0 was run: {N}, against {N} with it \(−{N} points", text, where
        ),
        "spread": quoted(rf"seeds'? spread (?:over|of) {N}", text, where),
        "lightly moved": quoted(
            r"moved seeds 0–2 by \+?(−?[\d.]+), \+?(−?[\d.]+) and \+?(−?[\d.]+) points", text, where
        ),
    }


def test_what_batchnorm_calibration_buys_is_stated_once_and_matches_the_runs():
    from edu_contrast.train.config import FitConfig

    doc = FitConfig.__doc__
    docstring = doc[doc.index("calibrate_bn:") : doc.index("out_dir:")]
    section = BENCHMARKS[BENCHMARKS.index("**What BatchNorm calibration buys**") :].split("\n\n")[0]
    claims = calibration_claims(section, "docs/benchmarks.md's BatchNorm calibration paragraph")
    assert claims == calibration_claims(docstring, "FitConfig.calibrate_bn's docstring"), (
        "docs/benchmarks.md and FitConfig.calibrate_bn's docstring state different numbers"
    )
    assert "FitConfig.calibrate_bn" in section, "the paragraph should point at the docstring it repeats"
    assert prose(BENCHMARKS).count("What BatchNorm calibration buys") == 1

    runs = table_after(BENCHMARKS, "## `bench_vs_lightly.py`")
    cli = [float(run["CLI: accuracy, process start to exit"].split(",")[0]) for run in runs]
    lightly = [float(run["lightly at the same wall time (steps)"].split()[0]) for run in runs]
    calibrated = [float(run["lightly after the CLI's BatchNorm calibration"]) for run in runs]
    assert claims["calibrated seeds"] == (f"{min(cli):.4f}", f"{max(cli):.4f}")
    spread = 100 * (max(cli) - min(cli))
    assert float(claims["spread"][0]) == pytest.approx(spread, abs=0.006)
    on, off = quoted(
        rf"^{N} / {N} \(`--no-calibrate-bn`\)$", result("the default run, seed 0")["result"], "row"
    )
    off_, on_, drop = claims["seed 0 without / with"]
    assert (off_, on_) == (off, on)
    assert float(drop) == pytest.approx(100 * (float(off) - float(on)), abs=0.006)
    moved = [float(m.replace("−", "-")) for m in claims["lightly moved"]]
    assert moved == pytest.approx([100 * (c - b) for c, b in zip(calibrated, lightly)], abs=0.006)
    if float(drop) > spread:  # one seed's difference beyond the seeds' spread is not "within" it
        assert not re.search(r"within the seeds?'? spread", section), section

"""``import edu_contrast`` stays light: scikit-learn, UMAP and matplotlib load only when something needs them.

Each check runs in a fresh interpreter (this test process has long imported everything). No timing here:
docs/benchmarks.md records the measured import times.
"""

import json
import subprocess
import sys

HEAVY = ("sklearn", "umap", "matplotlib")


def _loaded_after(code: str) -> list[str]:
    """The HEAVY modules in ``sys.modules`` after running ``code`` in a new Python."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_edu_contrast_loads_no_sklearn_umap_or_matplotlib():
    assert _loaded_after("import edu_contrast; edu_contrast.losses.nt_xent; edu_contrast.diagnostics") == []


def test_the_lazy_sub_packages_still_load_on_first_use():
    code = (
        "import edu_contrast as ec\n"
        "try:\n    ec.no_such_module\nexcept AttributeError:\n    pass\nelse:\n    raise SystemExit(1)\n"
        "assert callable(ec.probes.linear_probe) and ec.methods.SimCLR\n"
        "import sys\nassert {'edu_contrast.probes', 'edu_contrast.methods'} <= set(sys.modules)"
    )
    assert "sklearn" not in _loaded_after(code)  # the probes fit in torch (check=True: the asserts held)


def test_import_of_the_plots_leaves_umap_for_the_umap_call():
    assert "umap" not in _loaded_after("import edu_contrast.viz")

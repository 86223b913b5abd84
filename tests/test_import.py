"""``import edu_contrast`` stays light: scikit-learn, UMAP, matplotlib and torchvision load only when
something needs them.

Each check runs in a fresh interpreter (this test process has long imported everything). No timing here:
docs/benchmarks.md records the measured import times.
"""

import json
import subprocess
import sys

HEAVY = ("sklearn", "umap", "matplotlib", "torchvision")


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


def test_the_cli_and_a_convnet_run_do_not_import_torchvision():
    """torchvision (and the torch._dynamo it pulls in) is ~2 CPU-s of the default run's start-up."""
    code = (
        "import edu_contrast.cli.commands, edu_contrast.train, edu_contrast.measure\n"
        "from edu_contrast import augment, models\n"
        "models.SmallConvNet(); augment.batched(28, 1)"
    )
    assert _loaded_after(code) == []


def test_torchvision_loads_for_a_resnet_and_the_per_image_pipeline():
    assert "torchvision" in _loaded_after("from edu_contrast import models; models.resnet18_cifar()")
    assert "torchvision" in _loaded_after("from edu_contrast import augment; augment.per_image(28, 1)")

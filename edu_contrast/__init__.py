"""edu_contrast: contrastive representation learning, readable and checked.

Sub-packages: ``losses`` (each loss with its equation), ``diagnostics`` (floats that
describe embeddings), ``probes`` (how good are frozen features), plus the training stack
(``data``, ``augment``, ``models``, ``methods``, ``train``) the notebooks use.

``import edu_contrast`` loads only ``losses`` and ``diagnostics`` (PyTorch and NumPy). Every other
sub-package is imported on first use (``edu_contrast.probes`` pulls in scikit-learn, ~2 s), so
``import edu_contrast as ec; ec.probes.linear_probe(...)`` and ``from edu_contrast import probes``
both work.
"""

import importlib

from edu_contrast import diagnostics, losses
from edu_contrast._version import __version__

__all__ = ["losses", "diagnostics", "probes", "__version__"]

# Loaded by __getattr__ on first access, not at import.
_LAZY = (
    "probes",
    "measure",
    "models",
    "methods",
    "data",
    "augment",
    "train",
    "viz",
    "utils",
    "distributed",
    "retrieval",
    "lessons",
    "widgets",
    "exercises",
)


def __getattr__(name: str):
    """``edu_contrast.<sub-package>`` imported when first used (PEP 562)."""
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

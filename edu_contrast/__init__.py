"""edu_contrast: contrastive representation learning, readable and checked.

Sub-packages: ``losses`` (each loss with its equation), ``diagnostics`` (floats that
describe embeddings), ``probes`` (how good are frozen features), plus the training stack
(``data``, ``augment``, ``models``, ``methods``, ``train``) the notebooks use.
"""

from edu_contrast import diagnostics, losses, probes
from edu_contrast._version import __version__

__all__ = ["losses", "diagnostics", "probes", "__version__"]

"""Contrastive and non-contrastive losses, one family per file, each with its equation.

Every loss takes embeddings of shape ``(N, d)`` (``supcon``: ``(N, V, d)``), returns a 0-dim
tensor that backpropagates, computes in float32 at least, and checks its arguments.
Symbols follow ``notebooks/00_notation.md``.

A temperature τ may be a number (Python or NumPy) or a one-element tensor: pass an ``nn.Parameter``
(or ``log_tau.exp()``, CLIP's way, which keeps τ > 0 whatever the optimiser does) and ∂L/∂τ reaches it.
The loss modules (``NTXentLoss``, ``InfoNCELoss``, ``SupConLoss``) register a parameter τ.
"""

from edu_contrast.losses.byol import byol
from edu_contrast.losses.clip import CLIPLoss, LogitScale, SigLIPLoss, clip, siglip
from edu_contrast.losses.generalized import generalized_contrastive, sample_prior, sliced_wasserstein
from edu_contrast.losses.geometry import alignment, uniformity
from edu_contrast.losses.infonce import InfoNCELoss, NTXentLoss, dcl, info_nce, nt_xent
from edu_contrast.losses.margin import margin_contrastive
from edu_contrast.losses.negatives import class_conditional_nt_xent, debiased_nt_xent, hard_nt_xent
from edu_contrast.losses.spectral import spectral_contrastive
from edu_contrast.losses.supcon import SupConLoss, supcon
from edu_contrast.losses.vicreg import VICRegTerms, vicreg, vicreg_terms

__all__ = [
    "clip",
    "siglip",
    "CLIPLoss",
    "SigLIPLoss",
    "LogitScale",
    "info_nce",
    "nt_xent",
    "dcl",
    "debiased_nt_xent",
    "hard_nt_xent",
    "class_conditional_nt_xent",
    "spectral_contrastive",
    "margin_contrastive",
    "supcon",
    "byol",
    "alignment",
    "uniformity",
    "sliced_wasserstein",
    "generalized_contrastive",
    "sample_prior",
    "vicreg",
    "vicreg_terms",
    "VICRegTerms",
    "InfoNCELoss",
    "NTXentLoss",
    "SupConLoss",
]

"""BYOL's regression loss: the online prediction should point where the target points."""

from __future__ import annotations

import torch

from edu_contrast._validation import check_embeddings, check_same_shape
from edu_contrast.losses._common import normalize


def byol(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Normalised mean squared error between the prediction and a stopped-gradient target.

        ℓ_i = ‖q̂_i − sg(ẑ'_i)‖² = 2 − 2 · q̂_i · sg(ẑ'_i),    L = (1/N) Σ_i ℓ_i

    sg is stop-gradient: the target comes from the momentum network and receives no gradient
    (``target`` is detached here, so callers need not remember to).

    Args:
        prediction: q_θ(z), the online predictor's output (q̂ normalised), shape ``(N, d)``.
        target: z', the target projection of the other view, shape ``(N, d)``.

    Returns:
        The 0-dim loss L in [0, 4]. Apply it both ways (swap the views) for the symmetric loss.

    Defined in Grill et al. 2020, "Bootstrap Your Own Latent", Eq. 2.
    """
    where = "byol"
    check_embeddings(prediction, "prediction", where)
    check_embeddings(target, "target", where)
    check_same_shape(prediction, target, "prediction", "target", where)
    q, z = normalize(prediction), normalize(target.detach())  # (N, d)
    cosine = torch.einsum("id,id->i", q, z)  # (N,)
    return (2 - 2 * cosine).mean()

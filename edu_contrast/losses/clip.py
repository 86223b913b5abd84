"""Image–text contrastive losses: ``clip`` (softmax, Radford et al. 2021), ``siglip`` (Zhai et al. 2023).

Both score every image i against every caption j of the batch by the cosine similarity

    s_ij = x̂_i · ŷ_j,        x_i = image embedding i, y_j = text embedding j, shapes (N, d),

so the N matching pairs sit on the diagonal of the ``(N, N)`` matrix s. The loss takes the
multiplier t (and SigLIP's bias b) as a number or a 0-dim tensor; the modules below hold the
learnable *log* scale t' with t = e^{t'}, as CLIP and SigLIP do, so that t stays > 0 whatever the
optimiser does.
"""

from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast._validation import (
    check_embeddings,
    check_positive,
    check_same_shape,
    check_temperature,
    fail,
)
from edu_contrast.losses._common import normalize

MAX_LOGIT_SCALE = 100.0  # CLIP clips t at 100 (Radford et al. 2021, Sec. 2.5); open_clip does too


def _similarities(image, text, logit_scale, where: str, min_rows: int):
    """Checked inputs → (t, s) with s_ij = x̂_i · ŷ_j of shape ``(N, N)`` in float32 at least."""
    logit_scale = check_temperature(logit_scale, "logit_scale", where)  # > 0, keeps a tensor's gradient
    check_embeddings(image, "image", where, min_rows=min_rows)
    check_embeddings(text, "text", where, min_rows=min_rows)
    check_same_shape(image, text, "image", "text", where)
    x, y = normalize(image), normalize(text)  # (N, d) each
    return logit_scale, torch.einsum("id,jd->ij", x, y)  # (N, N), matching pairs on the diagonal


def clip(
    image: torch.Tensor, text: torch.Tensor, *, logit_scale: float | torch.Tensor = 1 / 0.07
) -> torch.Tensor:
    r"""CLIP's symmetric cross-entropy: each image picks its caption among N, and each caption its image.

        L = ½ [ (1/N) Σ_i −log softmax_j(t·s_ij)[i]  +  (1/N) Σ_j −log softmax_i(t·s_ij)[j] ]

    i.e. the mean of the cross-entropies over the rows and over the columns of the logits t·s,
    with labels ``arange(N)``. Each direction is InfoNCE with temperature τ = 1/t.

    Args:
        image: x, image embeddings, shape ``(N, d)``, N ≥ 2; row i is paired with row i of ``text``.
        text: y, text embeddings, shape ``(N, d)``.
        logit_scale: t = e^{t'} > 0, the multiplier of the cosine similarities (1/0.07 ≈ 14.3 is
            CLIP's initial value): a number, or a one-element tensor such as ``LogitScale()()`` that
            receives the gradient ∂L/∂t.

    Returns:
        The 0-dim loss L (float32 for half-precision inputs). All embeddings equal give log N.

    Defined in Radford et al. 2021 (CLIP), Figure 3 (numpy-like pseudocode) and Sec. 2.3.
    """
    scale, s = _similarities(image, text, logit_scale, "clip", min_rows=2)
    logits = scale * s  # (N, N): row i = image i against every caption
    labels = torch.arange(s.shape[0], device=s.device)  # (N,): the diagonal is the match
    image_to_text = F.cross_entropy(logits, labels)  # softmax over each row
    text_to_image = F.cross_entropy(logits.T, labels)  # softmax over each column
    return (image_to_text + text_to_image) / 2


def siglip(
    image: torch.Tensor,
    text: torch.Tensor,
    *,
    logit_scale: float | torch.Tensor = 10.0,
    logit_bias: float | torch.Tensor = -10.0,
) -> torch.Tensor:
    r"""SigLIP's pairwise sigmoid loss: every image–caption pair is a binary "match or not" decision.

        L = −(1/N) Σ_i Σ_j log σ( z_ij (t·s_ij + b) ),    z_ij = +1 if i = j, −1 otherwise

    summed over all N² pairs and divided by N (the batch size), as in the paper. No softmax couples
    the pairs, so the loss needs no all-to-all normalisation and works with N = 1. ``logsigmoid``
    keeps it finite for any logit.

    Args:
        image: x, image embeddings, shape ``(N, d)``; row i is paired with row i of ``text``.
        text: y, text embeddings, shape ``(N, d)``.
        logit_scale: t = e^{t'} > 0 (10 at the paper's initialisation t' = log 10): a number, or a
            one-element tensor that receives ∂L/∂t.
        logit_bias: b (−10 at initialisation, so that the N² − N negatives do not dominate the first
            steps): a finite number, or a one-element tensor that receives ∂L/∂b.

    Returns:
        The 0-dim loss L (float32 for half-precision inputs). All embeddings equal give
        −log σ(t + b) − (N − 1)·log σ(−t − b).

    Defined in Zhai et al. 2023 (SigLIP), Eq. 1 and Algorithm 1.
    """
    where = "siglip"
    scale, s = _similarities(image, text, logit_scale, where, min_rows=1)
    bias = _check_bias(logit_bias, where)
    n = s.shape[0]
    signs = 2 * torch.eye(n, device=s.device, dtype=s.dtype) - 1  # (N, N): z_ij, +1 on the diagonal
    return -F.logsigmoid(signs * (scale * s + bias)).sum() / n


def _check_bias(value, where: str, name: str = "logit_bias") -> float | torch.Tensor:
    """b: any finite real number, or a one-element floating-point tensor kept in the graph."""
    expected = "a finite real number (a Python or NumPy number, or a one-element tensor)"
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or not value.is_floating_point():
            fail(name, where, expected, f"a {value.dtype} tensor of shape {tuple(value.shape)}", TypeError)
        if not math.isfinite(value.detach().item()):
            fail(name, where, expected, value.detach().item())
        return value.reshape(())  # 0-dim view: the gradient reaches the caller's tensor
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        fail(name, where, expected, f"{value!r} of type {type(value).__name__}", TypeError)
    if not math.isfinite(value):
        fail(name, where, expected, value)
    return float(value)


class LogitScale(nn.Module):
    r"""The learnable multiplier t = e^{t'} of CLIP and SigLIP, stored as its log t'.

        t = exp(min(t', log t_max)),    t' initialised at log(``init``)

    Learning t' instead of t keeps t > 0 and makes the optimiser's steps relative (CLIP's
    choice, Radford et al. 2021, Sec. 2.3 and 2.5: τ is optimised as a log-parameterised
    multiplicative scalar, initialised at the equivalent of τ = 0.07 and clipped so that t ≤ 100).

    Where the clipping happens: open_clip does not clip in the forward pass; its training loop
    (``open_clip_train/train.py``, ``train_one_epoch``) clamps the stored parameter in place to
    [0, ln 100] right after each ``optimizer.step()``, under ``torch.no_grad()``. Call
    :meth:`clamp_` at the same place to do the same. ``forward`` also takes min(t', ln t_max), so t
    never exceeds t_max even if that call is forgotten; but above the bound its gradient is 0, and
    only ``clamp_`` brings t' back to where it can learn again.

    Args:
        init: the initial multiplier t (1/0.07 for CLIP, 10 for SigLIP), 1 ≤ init ≤ ``max_scale``.
        max_scale: t_max (100 in CLIP and open_clip).
    """

    def __init__(self, init: float = 1 / 0.07, max_scale: float = MAX_LOGIT_SCALE):
        super().__init__()
        where = "LogitScale"
        max_scale = check_positive(max_scale, "max_scale", where)
        init = check_positive(init, "init", where)
        if not 1.0 <= init <= max_scale:
            fail("init", where, f"in [1, max_scale={max_scale:g}] (t' = log t in [0, log max_scale])", init)
        self.max_log_scale = math.log(max_scale)
        self.log_scale = nn.Parameter(torch.tensor(math.log(init)))  # t', a 0-dim float32 parameter

    def forward(self) -> torch.Tensor:
        """t = e^{min(t', log t_max)}, a 0-dim tensor to pass as ``logit_scale``."""
        return self.log_scale.clamp(max=self.max_log_scale).exp()

    @torch.no_grad()
    def clamp_(self) -> LogitScale:
        """Clamp t' into [0, log t_max] in place; call it after each ``optimizer.step()`` (open_clip)."""
        self.log_scale.clamp_(0.0, self.max_log_scale)
        return self

    def extra_repr(self) -> str:
        return f"t={math.exp(self.log_scale.item()):.4g}, max_scale={math.exp(self.max_log_scale):g}"


class CLIPLoss(nn.Module):
    """``clip`` as a module holding its learnable scale: ``self.logit_scale`` is a :class:`LogitScale`.

    ``CLIPLoss()(image, text)`` = ``clip(image, text, logit_scale=t)`` with t = e^{t'}, t' a parameter
    initialised at log(1/0.07) (Radford et al. 2021). Give the module's parameters to the optimiser
    with the towers' and call ``loss.logit_scale.clamp_()`` after each step.
    """

    def __init__(self, init_scale: float = 1 / 0.07, max_scale: float = MAX_LOGIT_SCALE):
        super().__init__()
        self.logit_scale = LogitScale(init_scale, max_scale)

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return clip(image, text, logit_scale=self.logit_scale())


class SigLIPLoss(nn.Module):
    """``siglip`` as a module holding t' (``self.logit_scale``, a :class:`LogitScale`) and b (``logit_bias``).

    At initialisation t' = log 10 and b = −10 (Zhai et al. 2023, Sec. 3 and Algorithm 1); both are
    learned. open_clip clamps SigLIP's t' at log 100 like CLIP's, and :meth:`LogitScale.clamp_` does too.
    """

    def __init__(
        self, init_scale: float = 10.0, init_bias: float = -10.0, max_scale: float = MAX_LOGIT_SCALE
    ):
        super().__init__()
        self.logit_scale = LogitScale(init_scale, max_scale)
        self.logit_bias = nn.Parameter(
            torch.tensor(_check_bias(init_bias, "SigLIPLoss", "init_bias"))
        )  # b, 0-dim

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return siglip(image, text, logit_scale=self.logit_scale(), logit_bias=self.logit_bias)

    def extra_repr(self) -> str:
        return f"b={self.logit_bias.item():.4g}"

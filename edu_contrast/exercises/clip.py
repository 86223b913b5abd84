"""Checker for notebook 15 (CLIP in miniature): the symmetric CLIP loss from two batches of embeddings.

``check_symmetric_clip_loss(fn)``: ``fn(image, text, logit_scale)`` returns, for image embeddings x and text
embeddings y of shape (N, d) (not normalised) and the multiplier t > 0,

    s_ij = x̂_i · ŷ_j,   L = ½ [ (1/N) Σ_i −log softmax_j(t·s_ij)[i] + (1/N) Σ_j −log softmax_i(t·s_ij)[j] ],

as ``lessons.clip.symmetric_clip_loss`` (= ``losses.clip``; Radford et al. 2021, Figure 3). The checker tries
three batches and names the usual slip when the value is wrong: one direction only, no L2 normalisation,
t used as a temperature (s/t), t applied twice, log t or e^t in place of t, the two directions summed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from edu_contrast.exercises._core import ExerciseError, as_number, call_student, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.clip import symmetric_clip_loss

__all__ = ["check_symmetric_clip_loss"]

NAME = "symmetric_clip_loss"
HINT = (
    "Normalise the rows of image and text, form the (N, N) logits t · x̂ ŷᵀ, then average "
    "F.cross_entropy(logits, arange(N)) (image → text, over the rows) and "
    "F.cross_entropy(logits.T, arange(N)) (text → image, over the columns)."
)


def _batch(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalised (n, d) image and text embeddings; text_i is near image_i, with rows of unequal norm."""
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(n, d, generator=g, dtype=torch.float64) * torch.linspace(0.5, 3.0, n)[:, None]
    text = image + 0.8 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return image, 2.0 * text


def _mistakes(image, text, t):
    x, y = F.normalize(image, dim=1), F.normalize(text, dim=1)
    labels = torch.arange(len(x))

    def rows(logits):
        return F.cross_entropy(logits, labels)

    def both(logits):
        return (rows(logits) + rows(logits.T)) / 2

    s = x @ y.T  # (N, N)
    yield rows(t * s), "only image → text (the rows): average it with text → image, the columns of the logits"
    yield rows(t * s.T), "only text → image (the columns): average it with image → text, the rows"
    yield both(t * image @ text.T), "normalise the rows of image and text first: s_ij is a cosine similarity"
    yield both(s / t), "logit_scale is the multiplier t = 1/τ: multiply the similarities by it, do not divide"
    yield both(t * t * s), "the scale is applied twice: multiply the similarities by t once"
    yield both(math.log(t) * s), "use t itself, not log t (t' = log t is what a model stores, t what it uses)"
    yield both(math.exp(t) * s), "logit_scale is already t = e^{t'}: do not take its exponential again"
    yield rows(t * s) + rows(t * s.T), "average the two directions (½ of their sum), do not add them"


@exercise(NAME, reference=symmetric_clip_loss, hint=HINT)
def check_symmetric_clip_loss(student_fn) -> bool:
    """Check ``student_fn(image, text, logit_scale) -> loss`` against ``lessons.clip.symmetric_clip_loss``."""
    for n, d, t, seed in ((6, 5, 1 / 0.07, 0), (4, 8, 3.0, 1), (9, 3, 50.0, 2)):
        image, text = _batch(n, d, seed)
        got = call_student(student_fn, image.clone(), text.clone(), t, name=NAME)
        got = as_number(
            got, NAME, "the loss as a one-element tensor or a number", tensor_hint=" (average it)"
        )
        expected = float(symmetric_clip_loss(image, text, t))
        if math.isclose(got, expected, rel_tol=1e-5, abs_tol=1e-7):
            continue
        for wrong, why in _mistakes(image, text, t):
            if math.isclose(got, float(wrong), rel_tol=1e-5, abs_tol=1e-7):
                raise ExerciseError(f"{NAME} (N = {n}, t = {t:.3g}): {why}.")
        raise ExerciseError(
            f"{NAME} (N = {n}, d = {d}, t = {t:.3g}): got {got:.6g}, expected {expected:.6g}."
        )
    return passed(NAME, "Each direction is InfoNCE with temperature 1/t: a softmax over the batch.")

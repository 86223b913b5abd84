"""Checker for notebook 02: the softmax weight each negative gets, which is the gradient weight times τ.

``check_negative_weights(fn)``: ``fn(positive, negatives, temperature)`` with s⁺ of shape ``(N,)`` and s⁻ of
shape ``(N, M)`` returns the ``(N, M)`` weights

    p_ik = exp(s⁻_ik/τ) / ( exp(s⁺_i/τ) + Σ_m exp(s⁻_im/τ) )  =  τ · ∂ℓ_i/∂s⁻_ik

(Wang & Liu 2021, "Understanding the Behaviour of Contrastive Loss", Eq. 4–5), compared with
``lessons.temperature.negative_weights``. A wrong answer is matched against the typical mistakes.
``check_negative_weights(fn, fallback=True)`` returns the function the notebook goes on with (``_registry``).
"""

from __future__ import annotations

import torch

from edu_contrast.exercises._core import ExerciseError, call_student, expect_close, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.temperature import negative_weights

__all__ = ["check_negative_weights"]


def _similarities(n: int, m: int, seed: int, dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosine-like similarities in [−1, 1]: positives high (0.9–0.99), negatives spread (−0.5–0.9).

    At τ = 0.01 the positive logits s⁺/τ ≥ 90 overflow exp in float32 (above 88.7)."""
    g = torch.Generator().manual_seed(seed)
    positive = 0.9 + 0.09 * torch.rand(n, generator=g, dtype=torch.float64)  # (n,)
    negatives = -0.5 + 1.4 * torch.rand(n, m, generator=g, dtype=torch.float64)  # (n, m)
    return positive.to(dtype), negatives.to(dtype)


def _mistakes(positive: torch.Tensor, negatives: torch.Tensor, temperature: float):
    tau = temperature
    p = negative_weights(positive, negatives, tau)
    return [
        (
            negative_weights(positive, negatives, 1.0),
            f"forgot the temperature: your weights are the softmax of s (τ = 1); divide the similarities by "
            f"τ = {tau:g} first",
        ),
        (
            negative_weights(positive * tau * tau, negatives * tau * tau, tau),
            f"multiplied by the temperature: the logits are s / τ, not s · τ (τ = {tau:g})",
        ),
        (
            torch.softmax(negatives / tau, dim=1),
            "left the positive out of the denominator: each of your rows sums to 1, but the softmax runs "
            "over the positive AND the negatives, so the negatives share only 1 − p⁺",
        ),
        (
            torch.softmax(negatives / tau, dim=0),
            "normalised over the wrong axis (dim=0, over anchors): the softmax of anchor i runs over its own "
            "candidates, row i",
        ),
        (p / tau, f"returned the gradient ∂ℓ/∂s⁻ = p / τ: return the softmax weight p itself (τ = {tau:g})"),
        (
            torch.exp(negatives / tau) / torch.exp(positive / tau)[:, None],
            "divided by exp(s⁺/τ) only: the denominator is exp(s⁺/τ) + Σ_m exp(s⁻_m/τ)",
        ),
    ]


def _check_one(student_fn, n: int, m: int, temperature: float, seed: int, name: str, dtype=torch.float64):
    positive, negatives = _similarities(n, m, seed, dtype)
    got = call_student(student_fn, positive.clone(), negatives.clone(), temperature, name=name)
    if not isinstance(got, torch.Tensor):
        got = "None (no return statement?)" if got is None else type(got).__name__
        raise ExerciseError(f"{name}: return a tensor of shape (N, M). Got {got}.")
    if got.shape == (n, m + 1):
        raise ExerciseError(
            f"{name}: your result has shape {tuple(got.shape)}: it includes the positive's column. "
            f"Return only the M = {m} negatives' weights, shape ({n}, {m}) (drop column 0 after the softmax)."
        )
    if got.shape != (n, m):
        raise ExerciseError(
            f"{name}: return one weight per negative, shape (N, M) = ({n}, {m}). Got {tuple(got.shape)}."
        )
    got = got.detach()
    logits = torch.cat([positive[:, None], negatives], dim=1) / temperature  # (N, 1 + M) in the input dtype
    unstable = (logits.exp() / logits.exp().sum(dim=1, keepdim=True))[:, 1:]  # exp overflows → 0 or NaN
    overflowed = not bool(torch.isfinite(logits.exp()).all())
    finite = bool(torch.isfinite(got).all())
    if overflowed and (
        not finite or torch.allclose(got.to(unstable.dtype), unstable, rtol=1e-4, atol=1e-7, equal_nan=True)
    ):
        raise ExerciseError(
            f"{name}: at τ = {temperature:g} in {dtype} your weights come out as NaN, inf or 0 because "
            f"exp(s/τ) overflows (s/τ reaches {float(positive.max()) / temperature:.0f}; float32's exp "
            f"overflows above 88.7). "
            f"Subtract each row's largest logit before exp, or use torch.softmax / torch.logsumexp."
        )
    if not finite:
        raise ExerciseError(
            f"{name}: your weights contain NaN or inf (N = {n}, M = {m}, τ = {temperature:g})."
        )
    expected = negative_weights(positive, negatives, temperature).to(torch.float64)
    got64 = got.to(torch.float64)
    if torch.allclose(got64, expected, rtol=1e-4, atol=1e-7):
        return
    for value, message in _mistakes(positive.double(), negatives.double(), temperature):
        if value.shape == got64.shape and torch.allclose(got64, value, rtol=1e-4, atol=1e-7):
            raise ExerciseError(f"{name}: {message}.")
    expect_close(
        got64,
        expected,
        what=f"the weights (N = {n}, M = {m}, τ = {temperature:g})",
        name=name,
        atol=1e-7,
        rtol=1e-4,
    )


HINT = (
    "Put each anchor's candidates in one row: logits = torch.cat([positive[:, None], negatives], 1) / τ,\n"
    "shape (N, 1 + M), the positive in column 0. Take the softmax over the row (dim=1): it runs over the\n"
    "positive AND the negatives, and torch.softmax subtracts the row's maximum, so exp cannot overflow.\n"
    "Return the negatives' columns only, [:, 1:], shape (N, M)."
)


@exercise("negative_weights", reference=negative_weights, hint=HINT)
def check_negative_weights(student_fn) -> bool:
    r"""Check ``student_fn(positive, negatives, temperature) -> (N, M)`` softmax weights of the negatives.

        p_ik = exp(s⁻_ik/τ) / ( exp(s⁺_i/τ) + Σ_m exp(s⁻_im/τ) )

    On float64 similarities at τ = 0.5 and 0.1, then on float32 at τ = 0.01, where exp(s/τ) overflows
    unless the implementation is stable. Returns True and prints a confirmation, or raises
    ``ExerciseError`` naming the mistake.
    """
    name = "check_negative_weights"
    _check_one(student_fn, 4, 6, 0.5, 0, name)
    _check_one(student_fn, 3, 9, 0.1, 1, name)
    _check_one(student_fn, 5, 7, 0.01, 2, name, dtype=torch.float32)
    return passed(name, "p_k = softmax over [s⁺, s⁻] / τ, without the positive's column; τ·∂ℓ/∂s⁻_k = p_k.")

"""Checker for notebook 01: the student builds the NT-Xent logits matrix and its labels.

``check_nt_xent_logits(fn)``: ``fn(z1, z2, temperature)`` returns ``(logits, labels)`` for the 2N views
z = [z1; z2] (views 1 first, then views 2):

    logits_ij = s_ij / τ = ẑ_i · ẑ_j / τ   for j ≠ i,     logits_ii masked (−inf, or very negative),
    labels_i  = i⁺ = (i + N) mod 2N,

so that ``F.cross_entropy(logits, labels)`` is the NT-Xent loss of Chen et al. 2020 (SimCLR, Eq. 1), which
``losses.nt_xent`` computes. The checker inspects the matrix itself, so it can say which step is wrong:
the positive index, the mask on the diagonal, the temperature, or the normalisation. The reference is
``lessons.infonce.nt_xent_logits``; ``check_nt_xent_logits(fn, fallback=True)`` returns the function the
notebook goes on with (``_registry``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edu_contrast import losses
from edu_contrast.exercises._core import ExerciseError, call_student, expect_close, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.infonce import nt_xent_logits

__all__ = ["check_nt_xent_logits"]

# Softmax weight an anchor may leave on itself and still count as masked (exp(−30) ≈ 1e−13).
_MASKED = 1e-6


def _views(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two (n, d) float64 views: z2 is a noisy copy of z1, and the rows' norms range from 0.5 to 3,
    so a missing normalisation changes every logit."""
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64)  # (n, d)
    z2 = z1 + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64)  # (n, d) positives: similar rows
    scale = lambda: 0.5 + 2.5 * torch.rand(n, 1, generator=g, dtype=torch.float64)  # (n, 1)
    return z1 * scale(), z2 * scale()


def _unpack(result, n: int, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        got = "None (no return statement?)" if result is None else type(result).__name__
        raise ExerciseError(f"{name}: return a pair (logits, labels). Got {got}.")
    logits, labels = result
    if not isinstance(logits, torch.Tensor) or not torch.is_floating_point(logits):
        raise ExerciseError(f"{name}: 'logits' must be a floating-point tensor. Got {type(logits).__name__}.")
    if logits.shape == (2 * n, 2 * n - 1):
        raise ExerciseError(
            f"{name}: your logits have shape {tuple(logits.shape)}: you removed the diagonal. Keep the full "
            f"(2N, 2N) = {(2 * n, 2 * n)} matrix, with column j = view j, and mask the diagonal instead "
            f"(logits.fill_diagonal_(float('-inf')), or masked_fill with torch.eye(2N, dtype=bool))."
        )
    if logits.shape != (2 * n, 2 * n):
        raise ExerciseError(
            f"{name}: logits must have shape (2N, 2N) = {(2 * n, 2 * n)} for N = {n} pairs (every view "
            f"against every view of z = cat([z1, z2])). Got {tuple(logits.shape)}."
        )
    labels = torch.as_tensor(labels)
    if labels.dtype.is_floating_point or labels.dtype == torch.bool or labels.shape != (2 * n,):
        raise ExerciseError(
            f"{name}: labels must be an integer tensor of shape (2N,) = ({2 * n},), the column of each row's "
            f"positive. Got dtype {labels.dtype}, shape {tuple(labels.shape)}."
        )
    return logits.detach().to(torch.float64), labels.long()


def _check_labels(labels: torch.Tensor, n: int, name: str) -> None:
    expected = torch.arange(2 * n).roll(n)  # (2N,) i⁺ = i + N mod 2N
    wrong = torch.nonzero(labels != expected).flatten()
    if len(wrong) == 0:
        return
    if torch.equal(labels, torch.arange(2 * n)):
        raise ExerciseError(
            f"{name}: wrong positive index: labels = arange(2N) points every row at itself (the diagonal, "
            f"which is masked). The positive of row i is its other view: column i + N for the first N rows "
            f"and i − N for the last N (row 0 → column {n}, row {n} → column 0)."
        )
    i = int(wrong[0])
    raise ExerciseError(
        f"{name}: wrong positive index: row {i}'s label is {int(labels[i])}, but its positive (the other "
        f"view of sample {i % n}) is column {int(expected[i])}. With z = cat([z1, z2]), "
        f"labels_i = (i + N) mod 2N."
    )


def _check_mask(logits: torch.Tensor, name: str) -> None:
    weights = torch.softmax(logits, dim=1)  # (2N, 2N)
    if torch.isnan(weights).any():
        raise ExerciseError(f"{name}: a row of your logits is all −inf or NaN: mask only the diagonal.")
    on_itself = weights.diagonal()  # (2N,)
    if bool((on_itself > _MASKED).any()):
        i = int(on_itself.argmax()) if on_itself[0] <= _MASKED else 0
        raise ExerciseError(
            f"{name}: self-similarities are not masked: row {i} puts {float(on_itself[i]):.0%} of its "
            f"weight on itself (s_{i}{i} = 1, the largest similarity). An anchor must not be its own "
            f"candidate: set the diagonal to −inf before the softmax (logits.fill_diagonal_(float('-inf')))."
        )


def _check_values(logits, z1, z2, temperature: float, name: str) -> None:
    z = torch.cat([z1, z2])  # (2N, d)
    off = ~torch.eye(len(z), dtype=torch.bool)  # (2N, 2N) True off the diagonal
    cosine = torch.einsum("id,jd->ij", F.normalize(z, dim=1), F.normalize(z, dim=1))  # (2N, 2N) s_ij
    dot = torch.einsum("id,jd->ij", z, z)  # (2N, 2N) z_i · z_j, not normalised
    got = logits[off]
    close = lambda candidate: torch.allclose(got, candidate[off], rtol=1e-4, atol=1e-6)
    if close(cosine / temperature):
        return
    mistakes = [
        (
            cosine,
            f"forgot the temperature: your logits are the cosine similarities s_ij; divide them by "
            f"τ = {temperature:g}",
        ),
        (
            dot / temperature,
            "forgot to normalise: your logits are z_i · z_j / τ with the raw embeddings; divide "
            "every row by its norm first (ẑ = z / ‖z‖, F.normalize(z, dim=1)) so s_ij is a cosine",
        ),
        (
            dot,
            f"forgot to normalise and forgot the temperature: use ẑ = z / ‖z‖ and divide by "
            f"τ = {temperature:g}",
        ),
        (
            cosine * temperature,
            f"multiplied by the temperature: logits are s_ij / τ, not s_ij · τ (τ = {temperature:g})",
        ),
        (
            F.normalize(z, dim=0) @ F.normalize(z, dim=0).T / temperature,
            "normalised the columns (dim=0) instead of each embedding's row (dim=1)",
        ),
    ]
    for candidate, message in mistakes:
        if close(candidate):
            raise ExerciseError(f"{name}: {message}.")
    expect_close(
        torch.where(off, logits, 0.0),
        torch.where(off, cosine / temperature, 0.0),
        what="the off-diagonal logits (expected s_ij / τ with z = cat([z1, z2]))",
        name=name,
    )


HINT = (
    "Stack the views, z = torch.cat([z1, z2]) (2N, d), and normalise every row (F.normalize(z, dim=1)).\n"
    "logits = z @ z.T / temperature is the (2N, 2N) matrix s_ij / τ; set its diagonal to -inf\n"
    "(masked_fill with torch.eye(2N, dtype=torch.bool)): an anchor is not its own candidate.\n"
    "The positive of row i is its other view, column (i + N) mod 2N: labels = torch.arange(2N).roll(N)."
)


@exercise("nt_xent_logits", reference=nt_xent_logits, hint=HINT)
def check_nt_xent_logits(student_fn) -> bool:
    r"""Check ``student_fn(z1, z2, temperature) -> (logits, labels)``, the NT-Xent logits and targets.

        z = [z1; z2] (2N views),  logits_ij = ẑ_i · ẑ_j / τ (j ≠ i),  logits_ii = −inf,
        labels_i = (i + N) mod 2N

    On two small float64 batches (rows of different norms, two temperatures), in this order: the labels,
    the mask on the diagonal, the off-diagonal values s_ij / τ, and finally that
    ``F.cross_entropy(logits, labels)`` equals ``losses.nt_xent(z1, z2, temperature=τ)``. Returns True
    and prints a confirmation, or raises ``ExerciseError`` naming the first mistake.
    """
    name = "check_nt_xent_logits"
    for n, d, temperature, seed in ((8, 5, 0.5, 0), (3, 4, 0.1, 1)):
        z1, z2 = _views(n, d, seed)
        result = call_student(student_fn, z1.clone(), z2.clone(), temperature, name=name)
        logits, labels = _unpack(result, n, name)
        _check_labels(labels, n, name)
        _check_mask(logits, name)
        _check_values(logits, z1, z2, temperature, name)
        loss = F.cross_entropy(logits, labels)
        expect_close(
            loss,
            losses.nt_xent(z1, z2, temperature=temperature),
            what="F.cross_entropy(logits, labels)",
            name=name,
            atol=1e-8,
            rtol=1e-6,
        )
    return passed(name, "F.cross_entropy(logits, labels) is the NT-Xent loss.")

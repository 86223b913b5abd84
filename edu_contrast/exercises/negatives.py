"""Checker for notebook 13 (good and bad negatives): the debiased negative term N_g of Chuang et al. 2020.

``check_debiased_negative_term(fn)``: ``fn(s_neg, s_pos, tau_plus, temperature)`` returns, for A anchors
with M negatives each (``s_neg`` of shape (A, M), ``s_pos`` of shape (A,), cosine similarities),

    N_g = max( (Σ_k e^{s_k/τ} − τ⁺·M·e^{s⁺/τ}) / (1 − τ⁺),  M·e^{−1/τ} ),    shape (A,),

as ``lessons.negatives.debiased_negative_term``. The checker tries anchors where the clamp cannot act
(small τ⁺), then anchors whose positive is so close that it must, and names the usual slip when a value
is wrong: no clamp, a clamp at 0, no division by 1 − τ⁺, M off by one, τ⁺ without M, τ forgotten.

``check_ablate_hardness(fn)`` (designing the experiment): ``fn(method)`` gets the settings of the
hard-negative run (a dict: tau_plus, beta, temperature, epochs, width, batch) and returns the run that,
compared with it, measures what the hardness weighting β adds (``lessons.negatives.hardness_ablation``).
The checker refuses an ablation that changes no setting, more than one (naming them), another setting
than β, or β to a value that still weights the hard negatives.
"""

from __future__ import annotations

import math

import torch

from edu_contrast.exercises._core import (
    ExerciseError,
    call_student,
    changed_factors,
    check_design,
    describe_changes,
    passed,
    setting_is_number,
)
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.negatives import debiased_negative_term, hardness_ablation

__all__ = ["check_debiased_negative_term", "check_ablate_hardness"]

NAME = "debiased_negative_term"
HINT = (
    "M = s_neg.shape[1]. Sum torch.exp(s_neg / τ) over dim 1, subtract τ⁺·M·exp(s_pos / τ), divide by "
    "1 − τ⁺, then .clamp(min=M·math.exp(−1/τ)): the least the sum of M negatives can be (all at s = −1)."
)


def _case(anchors: int, m: int, close: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """s_neg (A, M) uniform in [−1, 1] and s_pos (A,) in [close, 1]: cosines a real batch could give."""
    g = torch.Generator().manual_seed(seed)
    s_neg = 2 * torch.rand(anchors, m, generator=g, dtype=torch.float64) - 1
    s_pos = close + (1 - close) * torch.rand(anchors, generator=g, dtype=torch.float64)
    return s_neg, s_pos


def _mistakes(s_neg, s_pos, tau_plus: float, t: float):
    m = s_neg.shape[1]
    raw, pos = torch.exp(s_neg / t).sum(dim=1), torch.exp(s_pos / t)  # (A,)
    floor = m * math.exp(-1 / t)
    unclamped = (raw - tau_plus * m * pos) / (1 - tau_plus)
    yield unclamped, "no clamp: the estimate can fall below M·e^{−1/τ} (even below 0); clamp it there"
    yield unclamped.clamp(min=0), "the clamp is at M·e^{−1/τ} (every negative at s = −1), not at 0"
    yield (raw - tau_plus * m * pos).clamp(min=floor), "divide by 1 − τ⁺ (the share of true negatives)"
    for off in (1, -1):
        wrong = ((raw - tau_plus * (m + off) * pos) / (1 - tau_plus)).clamp(min=(m + off) * math.exp(-1 / t))
        yield wrong, f"M off by one: M is the number of negatives, s_neg.shape[1] = {m}, not {m + off}"
    yield ((raw - tau_plus * pos) / (1 - tau_plus)).clamp(min=floor), "subtract τ⁺·M·e^{s⁺/τ}: M times τ⁺"
    raw1, pos1 = torch.exp(s_neg).sum(dim=1), torch.exp(s_pos)
    wrong = ((raw1 - tau_plus * m * pos1) / (1 - tau_plus)).clamp(min=m * math.exp(-1))
    yield wrong, "divide the similarities by the temperature τ before exp"


def _compare(got, expected: torch.Tensor, case: str, mistakes) -> None:
    if not isinstance(got, torch.Tensor):
        kind = "None (no return statement?)" if got is None else type(got).__name__
        raise ExerciseError(f"{NAME}: return a tensor of shape (A,), one N_g per anchor. Got {kind}.")
    got = got.detach().to(torch.float64)
    if got.shape != expected.shape:
        raise ExerciseError(
            f"{NAME} ({case}): expected shape {tuple(expected.shape)} (one N_g per anchor), "
            f"got {tuple(got.shape)}; sum over the negatives, dim 1."
        )
    if torch.allclose(got, expected, rtol=1e-6):
        return
    for wrong, hint in mistakes:
        if torch.allclose(got, wrong, rtol=1e-6):
            raise ExerciseError(f"{NAME} ({case}): {hint}.")
    raise ExerciseError(
        f"{NAME} ({case}): got {[round(v, 4) for v in got[:3].tolist()]}…, expected "
        f"{[round(v, 4) for v in expected[:3].tolist()]}…"
    )


@exercise(NAME, reference=debiased_negative_term, hint=HINT)
def check_debiased_negative_term(student_fn) -> bool:
    """Check ``student_fn(s_neg, s_pos, tau_plus, temperature) -> (A,)`` against the package's N_g."""
    cases = (  # (anchors, M, positives at least this close, τ⁺, τ, what the case tests)
        (5, 6, 0.3, 0.1, 0.5, "τ⁺ = 0.1, τ = 0.5: the clamp does not act"),
        (6, 8, 0.9, 0.6, 0.2, "τ⁺ = 0.6, τ = 0.2, positives very close: the clamp acts"),
    )
    for seed, (anchors, m, close, tau_plus, t, case) in enumerate(cases):
        s_neg, s_pos = _case(anchors, m, close, seed)
        expected = debiased_negative_term(s_neg, s_pos, tau_plus, t)
        got = call_student(student_fn, s_neg.clone(), s_pos.clone(), tau_plus, t, name=NAME)
        _compare(got, expected, case, _mistakes(s_neg, s_pos, tau_plus, t))
    return passed(NAME, "The mean of −log(e^{s⁺/τ} / (e^{s⁺/τ} + N_g)) is losses.debiased_nt_xent.")


# ----------------------------------------------------------------------------- designing the experiment

ABLATION = "ablate_hardness"
ABLATION_HINT = (
    "An ablation changes exactly one setting of the run you were given and keeps every other: copy the\n"
    "run with one setting overridden, dict(method, beta=...), to switch the hardness weighting off. β = 0\n"
    "weights every negative alike (losses.hard_nt_xent with β = 0 is losses.debiased_nt_xent). τ⁺\n"
    "(tau_plus) is the debiasing, another idea: leave it, and the budget, as they are."
)
HARD_RUNS = (  # the hard-negative runs the ablation is asked for: the notebook's quick run, and another
    dict(tau_plus=0.1, beta=1.0, temperature=0.5, epochs=8, width=8, batch=64),
    dict(tau_plus=0.05, beta=2.0, temperature=0.2, epochs=30, width=32, batch=256),
)


def _ablation_problem(method: dict, ablated: dict) -> str | None:
    """Why ``ablated`` does not isolate β against ``method``, or None."""
    for key in ("tau_plus", "beta", "temperature"):
        setting_is_number(ablated, key, name=ABLATION)
    for key in ("epochs", "width", "batch"):
        setting_is_number(ablated, key, name=ABLATION, integer=True, minimum=1)
    changes = changed_factors(method, ablated)
    if not changes:
        return "your ablation changes no setting: it is the run itself, so the comparison measures nothing"
    if len(changes) > 1:
        return (
            f"your ablation changes {len(changes)} settings ({describe_changes(changes)}): a difference "
            "between the two runs could come from any of them; an ablation changes exactly one"
        )
    (key,) = changes
    if key == "tau_plus":
        return (
            "your ablation changes tau_plus, not beta: that measures the debiasing correction τ⁺, not the "
            "hardness weighting β the question is about"
        )
    if key != "beta":
        return f"your ablation changes {key}, not beta: it measures what {key} does, not the weighting"
    if ablated["beta"] != 0:
        return (
            f"β = {ablated['beta']:g} still weights the hard negatives: switch the weighting off (β = 0, "
            "every negative alike) to measure what it adds"
        )
    return None


@exercise(ABLATION, reference=hardness_ablation, hint=ABLATION_HINT)
def check_ablate_hardness(student_fn) -> bool:
    """Check ``student_fn(method) -> ablated``: the run that differs from ``method`` in β alone, β = 0."""
    return check_design(
        student_fn,
        HARD_RUNS,
        _ablation_problem,
        name=ABLATION,
        run_label="Hard-negative run",
        success="One setting changed, β → 0: the difference of the two runs is what β adds.",
    )

r"""Notebook 08's check of section 5: τ acts like the weight λ only within a range of τ.

Adam's steps do not depend on the scale of the loss (up to its ε), so L and τ·L train alike:

    τ·L = −(1/2N) Σ_i s_{ii⁺}  +  λτ · (1/2N) Σ_i log Σ_{k≠i} exp(s_ik/τ).

τ enters in two places: as a factor of λ (the product λτ, the dashed lines of the notebook's grid) and
inside the log-sum-exp, where it decides which neighbours get pushed. If only the product counted,
every (λ, τ) with the same λτ would train alike, at any τ. ``generalized.past_the_middle_runs`` trains
the toy at three points,

    (λ, τ_mid),  (λ, τ_high)  and  (λ·τ_high/τ_mid, τ_mid)   (the same λτ as the second),

and ``temperature_weight_effects`` returns

    tau_raised_past_the_middle = L_uniform(λ, τ_high) − L_uniform(λ, τ_mid),
    tau_against_weight         = L_uniform(λ, τ_high) − L_uniform(λ·τ_high/τ_mid, τ_mid).

The check is the first: > 0 when raising τ beyond the middle of its range makes the points *less*
uniform (the "tolerance" of a high temperature, Wang & Liu 2021). It is < 0 if τ only scaled λ (a larger
λτ spreads more) and 0 if τ did nothing. The second compares with the same product λτ reached by
raising λ: 0 if only λτ counted. Chen, Luo & Li 2021 (Appendix A.2) report τ acting like λ "within a
range".
"""

from __future__ import annotations

from edu_contrast._validation import fail
from edu_contrast.lessons._checks import check_effect

__all__ = ["temperature_weight_effects", "check_effect"]


def temperature_weight_effects(runs: dict) -> dict:
    """The effects ``tau_raised_past_the_middle`` and ``tau_against_weight`` (module docstring) of the
    three runs of ``past_the_middle_runs``."""
    if not isinstance(runs, dict) or not {"middle", "large_temperature", "large_weight"} <= runs.keys():
        fail("runs", "temperature_weight_effects", "the dict past_the_middle_runs returns", repr(runs)[:80])
    return {
        "tau_raised_past_the_middle": runs["large_temperature"] - runs["middle"],
        "tau_against_weight": runs["large_temperature"] - runs["large_weight"],
    }

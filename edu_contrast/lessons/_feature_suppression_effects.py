"""What notebook 05's RandBit check asserts: named effects, each > 0 when the taught effect is there
(``lessons.feature_suppression`` re-exports ``randbit_effects`` and ``check_effect``).

The margins the cells pass follow the seed sweep of ``docs/check_margins.md``.
"""

from __future__ import annotations

from edu_contrast._validation import fail
from edu_contrast.lessons._checks import check_effect

__all__ = ["randbit_effects", "check_effect"]


def randbit_effects(runs: list[dict], random_same_bits: dict) -> dict:
    r"""The effect of training on RandBit, for the runs of one temperature, at their largest k:

        "content: random − SimCLR, same bits" = acc_y(random encoder, k_max) − acc_y(SimCLR, k_max)

    where acc_y is the content probe. Both encoders see the same images with the same k_max bit planes,
    so the input alone (planes that swamp an untrained network's features) cannot make it positive: only
    training that spends h on the bits and drops the content does. The bits probe cannot say this: an
    untrained network reads the constant planes of u linearly too (≈ 0.99 at k = 8 on digits).

    ``runs``: ``randbit_run`` results of ``method="simclr"``; ``random_same_bits``: the ``method="random"``
    run with their largest k.
    """
    trained = max((r for r in runs if r["method"] == "simclr"), key=lambda r: r["bits"], default=None)
    if trained is None:
        fail("runs", "randbit_effects", "SimCLR runs of randbit_run", "none")
    if random_same_bits["method"] != "random" or random_same_bits["bits"] != trained["bits"]:
        got = f"method {random_same_bits['method']!r}, k = {random_same_bits['bits']}"
        fail("random_same_bits", "randbit_effects", f"the random encoder's run at k = {trained['bits']}", got)
    return {
        "content: random − SimCLR, same bits": random_same_bits["content_accuracy"]
        - trained["content_accuracy"],
    }

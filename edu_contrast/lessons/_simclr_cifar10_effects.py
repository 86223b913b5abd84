"""What notebook 09's τ check asserts: a named effect of the two τ pilots, > 0 when the taught effect is there
(``lessons.simclr_cifar10`` re-exports ``temperature_effects`` and ``check_effect``).

Notebook 02 measures the course's temperature story: below the middle of the τ range a smaller τ holds the
two views of an image closer (lower alignment, Wang & Isola 2020) and leaves the embeddings less uniform.
Notebook 09's pilots train the same network from the same initial weights at τ = 0.07 and τ = 0.5, so the
ratio of their alignments after the last epoch measures what τ alone changed. The margin the cell passes
follows the seed sweep of ``docs/check_margins.md``.
"""

from __future__ import annotations

import math

from edu_contrast._validation import fail
from edu_contrast.lessons._checks import check_effect

__all__ = ["temperature_effects", "check_effect"]

ALIGNMENT_EFFECT = "alignment: high τ / low τ − 1"


def temperature_effects(pilots: dict) -> dict:
    """The τ pilots' effect, > 0 when the lower τ holds the two views of an image closer.

        ℓ_align(τ) = mean ‖ẑ⁽¹⁾ − ẑ⁽²⁾‖²   of two views of each test image, after the last epoch

    ``"alignment: high τ / low τ − 1"`` = ℓ_align(max τ) / ℓ_align(min τ) − 1: 0 when τ changed nothing
    (e.g. both pilots at the same τ), 1 when the low τ's views are twice as close.

    ``pilots`` maps τ to what ``train.fit`` returned (its ``history``, one record per epoch), at least two
    different τ.
    """
    where = "temperature_effects"
    if not isinstance(pilots, dict) or len(pilots) < 2:
        fail("pilots", where, "a dict {τ: train.fit's result} of at least two pilots", repr(pilots)[:80])
    low, high = (pilots[tau]["history"][-1]["alignment"] for tau in (min(pilots), max(pilots)))
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0:
        fail("pilots", where, "finite alignments, the low τ's > 0", f"low τ {low}, high τ {high}")
    return {ALIGNMENT_EFFECT: high / low - 1}

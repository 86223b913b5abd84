"""The one asserting helper the notebooks' check cells call: ``check_effect(effects, name, margin=m)``.

A lesson computes named effects, each > 0 when the taught effect is there; the check cell asserts one of
them against the margin ``docs/check_margins.md`` records from a seed sweep.
"""

from __future__ import annotations

from edu_contrast._validation import check_choice

__all__ = ["check_effect"]


def check_effect(effects: dict, name: str, *, margin: float) -> None:
    """Assert ``effects[name] > margin``; the AssertionError names the effect, its value and the margin."""
    check_choice(name, "name", "check_effect", effects)
    value = effects[name]
    if not value > margin:
        raise AssertionError(
            f"{name} = {value:+.3f}, expected > {margin:+.3f}: the effect this check teaches did not show "
            "(docs/check_margins.md lists what the seed sweep measured)"
        )

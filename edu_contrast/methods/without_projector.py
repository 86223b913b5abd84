r"""Train on the encoder features directly: remove the projection head g, so z = h = f(x) (notebook 04).

    with g:     L(g(f(x⁽¹⁾)), g(f(x⁽²⁾)))        without:  L(f(x⁽¹⁾), f(x⁽²⁾))

Jing et al. 2022 ("Understanding Dimensional Collapse in Contrastive Self-supervised Learning", Sec. 5)
show that the projector absorbs the collapse: without it the encoder features h themselves collapse.
"""

from __future__ import annotations

from torch import nn

from edu_contrast._validation import fail
from edu_contrast.methods.base import ContrastiveMethod

MOMENTUM_PARTS = ("predictor", "target_projector", "key_projector")


def without_projector(method: ContrastiveMethod) -> ContrastiveMethod:
    """Replace ``method``'s projection head g by the identity (z = h) and return ``method``.

    Only for methods whose head is used once (SimCLR, VICReg, AlignUniform, Generalized): BYOL's and
    MoCo's momentum copies and predictor are built for the head's output size.
    """
    where = "without_projector"
    if not isinstance(method, ContrastiveMethod):
        fail("method", where, "a ContrastiveMethod", f"an object of type {type(method).__name__}", TypeError)
    for part in MOMENTUM_PARTS:
        if hasattr(method, part):
            fail(
                "method",
                where,
                "a method without momentum network or predictor (SimCLR, VICReg, ...)",
                f"{type(method).__name__}, which has a '{part}'",
            )
    method.projector = nn.Identity()
    return method

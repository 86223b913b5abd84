"""What every method shares: encoder f, projection head g, the two-view interface, EMA.

    h = f(x)   (encoder features: what probes see, ``embed``)
    z = g(h)   (projection: what the loss sees, ``project``)

Each method only adds its loss (and, for MoCo/BYOL, a momentum network) on top.
"""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast._validation import check_labels, check_positive, fail, reads_tensor_values
from edu_contrast.models import ProjectionHead

# Views are images in [0, 1] (the augmentations clamp to it); the slack leaves room for added noise,
# while images still in 0..255 go far above it.
MAX_PIXEL = 1.5
TO_FLOAT = "divide 0..255 images by 255: x.float() / 255, or utils.to_float(x, device) for uint8 ones"


class ContrastiveMethod(nn.Module):
    """Base class: an encoder f with ``.feature_dim`` and a projection head g.

    Subclasses implement ``loss(x1, x2, labels=None)``. ``forward`` is the loss too, so the
    method can be wrapped in DistributedDataParallel (DDP only syncs gradients of calls that
    go through ``forward``).
    """

    def __init__(self, encoder: nn.Module, *, hidden_dim: int = 512, out_dim: int = 128, num_layers: int = 2):
        super().__init__()
        where = type(self).__name__
        if not isinstance(encoder, nn.Module):
            fail("encoder", where, "an nn.Module", f"an object of type {type(encoder).__name__}", TypeError)
        feature_dim = getattr(encoder, "feature_dim", None)
        if not isinstance(feature_dim, int):
            fail(
                "encoder",
                where,
                "a module with an int attribute 'feature_dim' (see models.build_encoder)",
                f"{type(encoder).__name__} without it",
            )
        self.encoder = encoder
        self.projector = ProjectionHead(
            feature_dim, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers
        )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """h = f(x), shape ``(B, feature_dim)``: the representation linear/kNN probes use."""
        return self.encoder(x)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """z = g(f(x)), shape ``(B, out_dim)``: the space the loss acts in."""
        return self.projector(self.encoder(x))

    def project_pair(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z1, z2 from one forward pass over both views (BatchNorm sees all 2B images, and it is faster)."""
        z = self.project(torch.cat([x1, x2]))  # (2B, out_dim): views 1 then views 2
        return z[: x1.shape[0]], z[x1.shape[0] :]  # (B, out_dim) each

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} must implement loss(x1, x2, labels=None).")

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.loss(x1, x2, labels)

    def on_step_end(self, progress: float) -> None:
        """Called by ``fit`` after each optimiser step; ``progress`` = step / total steps in [0, 1]."""
        check_progress(progress, type(self).__name__)

    def _checked_labels(self, x1, x2, labels, expected: str) -> torch.Tensor:
        """The views checked and the required ``labels`` ``(B,)`` on the views' device."""
        where = f"{type(self).__name__}.loss"
        if labels is None:
            fail("labels", where, expected, "None")
        self._check_views(x1, x2)
        return check_labels(labels, x1.shape[0], "labels", where).to(x1.device)

    def _check_views(self, x1, x2) -> None:
        """Two batches of views of the same shape, floating point, images (B, C, H, W) scaled to [0, 1]."""
        where = f"{type(self).__name__}.loss"
        for name, x in (("x1", x1), ("x2", x2)):
            if not isinstance(x, torch.Tensor):
                fail(
                    name,
                    where,
                    "a torch.Tensor batch of views",
                    f"an object of type {type(x).__name__}",
                    TypeError,
                )
            if not torch.is_floating_point(x):
                fail(
                    name,
                    where,
                    f"a floating-point tensor of images in [0, 1] ({TO_FLOAT})",
                    f"dtype {x.dtype}",
                    TypeError,
                )
        if x1.shape != x2.shape:
            fail("x2", where, f"the same shape as 'x1' {tuple(x1.shape)}", f"shape {tuple(x2.shape)}")
        if x1.dim() == 0 or x1.shape[0] < 2:
            fail(
                "x1", where, "a batch of at least 2 samples (contrast needs two)", f"shape {tuple(x1.shape)}"
            )
        for name, x in (("x1", x1), ("x2", x2)):
            reads = x.dim() == 4 and x.numel() and reads_tensor_values()  # not inside fit's steps
            peak = float(x.detach().amax()) if reads else 0.0
            if peak > MAX_PIXEL:
                fail(
                    name,
                    where,
                    f"images scaled to [0, 1] (max <= {MAX_PIXEL}; {TO_FLOAT})",
                    f"values up to {peak:g}",
                )


def loss_precision(z: torch.Tensor) -> torch.autocast:
    """A context that turns autocast off, so the loss itself runs in float32 (the losses upcast half inputs).

    Under autocast every einsum would run in bfloat16/float16, and the logits s/τ at τ = 0.1 would
    keep only 2-3 significant digits. Use as ``with loss_precision(z): return losses.nt_xent(z1, z2)``.
    """
    return torch.autocast(z.device.type, enabled=False)


def check_progress(progress, where: str) -> float:
    """Training progress, a number in [0, 1]."""
    progress = check_positive(progress, "progress", where, allow_zero=True)
    if progress > 1:
        fail("progress", where, "in [0, 1] (step / total steps)", progress)
    return progress


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy whose parameters take no gradient (the momentum/target network)."""
    import copy

    clone = copy.deepcopy(module)
    clone.requires_grad_(False)
    return clone


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """θ_t ← τ·θ_t + (1 − τ)·θ_o for every parameter; buffers (BatchNorm statistics) stay the target's own."""
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.mul_(tau).add_(o.detach(), alpha=1 - tau)

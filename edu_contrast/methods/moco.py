"""MoCo: a slowly moving key encoder and a queue of its past keys as negatives."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import check_int, check_positive, fail, store_temperature, temperature_repr
from edu_contrast.distributed import gather
from edu_contrast.methods.base import (
    ContrastiveMethod,
    check_progress,
    ema_update,
    frozen_copy,
    loss_precision,
)


class MoCo(ContrastiveMethod):
    r"""Momentum Contrast (He et al. 2020, "Momentum Contrast for Unsupervised Visual Representation
    Learning"; the MLP head and τ = 0.2 of MoCo v2, Chen, Fan, Girshick & He 2020).

        q = g_q(f_q(x1)),  k⁺ = g_k(f_k(x2)) (no gradient),
        L = −(1/N) Σ_i log [ exp(q̂_i·k̂⁺_i/τ) / ( exp(q̂_i·k̂⁺_i/τ) + Σ_{m=1..M} exp(q̂_i·k̂⁻_m/τ) ) ]   (Eq. 1)

    the negatives k⁻ are the queue of the last M keys. After each optimiser step the key network
    follows the query network, ξ ← β·ξ + (1 − β)·θ (Eq. 2, ``on_step_end``; the paper writes K for M, m for
    β, θ_k, θ_q for ξ, θ — the symbols here are those of notebooks/00_notation.md), and during
    training each call to ``loss`` enqueues the new keys k⁺ of ``x2`` (the oldest are overwritten).
    ``symmetric=True`` averages the loss with the swapped one (q from x2, k⁺ from x1), as in MoCo v3.

    Args:
        encoder: f_q, any module with ``.feature_dim``; f_k starts as a copy of it.
        hidden_dim, out_dim, num_layers: the MLP projection head g.
        temperature: τ > 0: a number, or an ``nn.Parameter`` to learn τ. A parameter is registered:
            ``method.parameters()`` (so the optimiser) include it, and the state dict saves it.
        queue_size: M, the number of queued negatives (a buffer, so it is checkpointed). ``0`` keeps no
            queue: the negatives of query i are then the keys of the other images of the batch (N − 1 of
            them, as in MoCo v3), so the loss is ``losses.info_nce(q, k⁺)`` with in-batch negatives.
        momentum: β in [0, 1); 0 makes the key network a copy of the query network after every step.
        symmetric: use both directions of the loss.

    Not included: the shuffled BatchNorm of the paper (it needs several GPUs); the symmetric loss
    reduces the BatchNorm "cheating" it was built against.
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        hidden_dim: int = 512,
        out_dim: int = 128,
        num_layers: int = 2,
        temperature: float | torch.Tensor = 0.2,
        queue_size: int = 4096,
        momentum: float = 0.99,
        symmetric: bool = True,
    ):
        super().__init__(encoder, hidden_dim=hidden_dim, out_dim=out_dim, num_layers=num_layers)
        where = "MoCo"
        store_temperature(self, "temperature", temperature, where)
        self.momentum = check_positive(momentum, "momentum", where, allow_zero=True)
        if self.momentum >= 1:
            fail("momentum", where, "in [0, 1)", momentum)
        check_int(queue_size, "queue_size", where, minimum=0)
        self.symmetric = bool(symmetric)
        self.key_encoder = frozen_copy(self.encoder)
        self.key_projector = frozen_copy(self.projector)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, out_dim), dim=1))  # (M, out_dim)
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))  # next slot to overwrite

    @torch.no_grad()
    def keys(self, x: torch.Tensor) -> torch.Tensor:
        """k̂ = normalised g_k(f_k(x)), shape ``(B, out_dim)``, without gradient."""
        return F.normalize(self.key_projector(self.key_encoder(x)), dim=1)

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """InfoNCE of the queries against their keys and the queue; enqueues the keys when training."""
        self._check_views(x1, x2)
        # (M, out_dim), a copy since enqueue writes into the buffer; None (M = 0): the batch's other keys
        negatives = self.queue.clone() if self.queue.shape[0] else None
        if self.symmetric:
            q1, q2 = self.project_pair(x1, x2)  # (B, out_dim) each
            k = self.keys(torch.cat([x1, x2]))  # (2B, out_dim)
            k1, k2 = k[: x1.shape[0]], k[x1.shape[0] :]  # (B, out_dim) each
            with loss_precision(q1):
                loss = 0.5 * (self._info_nce(q1, k2, negatives) + self._info_nce(q2, k1, negatives))
        else:
            q1, k2 = self.project(x1), self.keys(x2)  # (B, out_dim) each
            with loss_precision(q1):
                loss = self._info_nce(q1, k2, negatives)
        if self.training:
            self.enqueue(k2)
        return loss

    def _info_nce(self, query, key, negatives):
        return losses.info_nce(query, key, negatives, temperature=self.temperature)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Write ``keys`` (all processes' keys under DDP) into the ring buffer at ``queue_ptr``.

        Slots ptr, ptr+1, … (mod M) are overwritten in order, so a batch that does not divide M
        wraps around; when more than M keys arrive, only the newest M are kept.
        """
        keys = gather(keys.detach())  # (n, out_dim), n = global batch
        size, n = self.queue.shape[0], keys.shape[0]
        if size == 0:  # no queue (M = 0): nothing to keep
            return
        start = self.queue_ptr
        if n > size:  # writing all n in order would leave the last M; write just those
            start, keys = (start + n - size) % size, keys[n - size :]  # (M, out_dim)
        slots = (start + torch.arange(keys.shape[0], device=keys.device)) % size  # (min(n, M),)
        self.queue.index_copy_(0, slots, F.normalize(keys.to(self.queue.dtype), dim=1))
        self.queue_ptr.copy_((self.queue_ptr + n) % size)

    def on_step_end(self, progress: float) -> None:
        """Momentum update of the key network: ξ ← β·ξ + (1 − β)·θ (Eq. 2)."""
        check_progress(progress, "MoCo.on_step_end")
        ema_update(self.key_encoder, self.encoder, self.momentum)
        ema_update(self.key_projector, self.projector, self.momentum)

    def extra_repr(self) -> str:
        return (
            f"temperature={temperature_repr(self.temperature)}, queue_size={self.queue.shape[0]}, "
            f"momentum={self.momentum}, symmetric={self.symmetric}"
        )

"""CLIP in miniature: an image tower and a text tower trained so that matching pairs have close embeddings.

    x_i = W_I f_I(image_i),   y_i = W_T f_T(tokens_i)     (f_I, f_T: the towers; W_I, W_T: linear projections)
    L = clip(x, y, t) or siglip(x, y, t, b)               (``losses.clip``; t = e^{t'} and b learned)

Radford et al. 2021 ("CLIP", Figure 3, whose names these are, and Sec. 2.5); Zhai et al. 2023 ("SigLIP")
for the sigmoid loss.
Images and captions are two *modalities*, not two augmented views, so ``CLIP`` is not a
``ContrastiveMethod`` and ``train_clip`` below replaces ``train.fit``, whose loop feeds two image views.
"""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import check_choice, check_int, check_positive, fail, reads_tensor_values
from edu_contrast.methods.base import MAX_PIXEL, TO_FLOAT, loss_precision

LOSSES = ("clip", "siglip")


class CLIP(nn.Module):
    r"""Two towers and a learnable logit scale: ``forward(images, tokens)`` is the image–text loss.

        x̂_i = normalize(W_I f_I(image_i)),   ŷ_j = normalize(W_T f_T(tokens_j)),   s_ij = x̂_i · ŷ_j

    ``loss="clip"``: L = ``losses.clip(x̂, ŷ, logit_scale=t)``, t = e^{t'} initialised at 1/0.07
    (Radford et al. 2021). ``loss="siglip"``: L = ``losses.siglip(x̂, ŷ, logit_scale=t, logit_bias=b)``,
    t' = log 10 and b = −10 at initialisation (Zhai et al. 2023). t' lives in ``self.logit_scale`` (a
    ``losses.LogitScale``; call it for t, and its ``clamp_()`` after each optimiser step), b in
    ``self.criterion.logit_bias``.

    Args:
        image_encoder: f_I, a module with ``.feature_dim``: images ``(B, C, H, W)`` in [0, 1] →
            ``(B, feature_dim)`` (``models.SmallConvNet(3)``).
        text_encoder: f_T, a module with ``.feature_dim``: int64 tokens ``(B, L)`` → ``(B, feature_dim)``
            (``models.TextEncoder``).
        embed_dim: size of the shared space, the output of the linear projections W_I and W_T.
        loss: "clip" (softmax over the batch, both directions) or "siglip" (a sigmoid per pair).
    """

    def __init__(
        self, image_encoder: nn.Module, text_encoder: nn.Module, *, embed_dim: int = 64, loss="clip"
    ):
        super().__init__()
        where = "CLIP"
        for name, tower in (("image_encoder", image_encoder), ("text_encoder", text_encoder)):
            if not isinstance(tower, nn.Module) or not isinstance(getattr(tower, "feature_dim", None), int):
                got = f"an object of type {type(tower).__name__}"
                fail(name, where, "an nn.Module with an int attribute 'feature_dim'", got, TypeError)
        embed_dim = check_int(embed_dim, "embed_dim", where)
        self.loss_name = check_choice(loss, "loss", where, LOSSES)
        self.image_encoder, self.text_encoder = image_encoder, text_encoder
        self.image_projection = nn.Linear(image_encoder.feature_dim, embed_dim, bias=False)  # W_I
        self.text_projection = nn.Linear(text_encoder.feature_dim, embed_dim, bias=False)  # W_T
        self.criterion = losses.CLIPLoss() if loss == "clip" else losses.SigLIPLoss()  # holds t' (and b)

    @property
    def logit_scale(self) -> losses.LogitScale:
        """The learnable t' (``self.logit_scale()`` is t = e^{t'}, a 0-dim tensor)."""
        return self.criterion.logit_scale

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """x̂ = normalize(W_I f_I(images)), unit rows ``(B, embed_dim)``; images float (B, C, H, W), [0, 1]."""
        _check_images(images)
        x = self.image_projection(self.image_encoder(images))  # (B, embed_dim)
        return nn.functional.normalize(x, dim=-1)

    def embed_texts(self, tokens: torch.Tensor) -> torch.Tensor:
        """ŷ = normalize(W_T f_T(tokens)), unit rows ``(B, embed_dim)``; tokens int64 ``(B, L)``, 0 pads."""
        y = self.text_projection(self.text_encoder(tokens))  # (B, embed_dim)
        return nn.functional.normalize(y, dim=-1)

    def forward(self, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The loss of a batch of N matching pairs: ``images[i]`` is described by ``tokens[i]``."""
        if (
            isinstance(images, torch.Tensor)
            and isinstance(tokens, torch.Tensor)
            and len(images) != len(tokens)
        ):
            fail("tokens", "CLIP", f"one row per image ({len(images)})", f"shape {tuple(tokens.shape)}")
        x, y = self.embed_images(images), self.embed_texts(tokens)  # (N, embed_dim) each
        with loss_precision(x):
            return self.criterion(x, y)

    def extra_repr(self) -> str:
        return f"loss={self.loss_name!r}"


def _check_images(images) -> None:
    where = "CLIP"
    expected = f"a float tensor (B, C, H, W) of images in [0, 1] ({TO_FLOAT})"
    if not isinstance(images, torch.Tensor):
        fail("images", where, expected, f"an object of type {type(images).__name__}", TypeError)
    if not images.is_floating_point() or images.dim() != 4:
        fail("images", where, expected, f"dtype {images.dtype}, shape {tuple(images.shape)}", TypeError)
    if reads_tensor_values() and images.numel() and float(images.detach().amax()) > MAX_PIXEL:
        peak = float(images.detach().amax())
        fail(
            "images",
            where,
            f"images scaled to [0, 1] (max <= {MAX_PIXEL}; {TO_FLOAT})",
            f"values up to {peak:g}",
        )


def train_clip(
    model: CLIP,
    images: torch.Tensor,
    tokens: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 0.1,
    seed: int = 0,
) -> list[float]:
    """Train ``model`` on the pairs (``images[i]``, ``tokens[i]``) with AdamW; the history of t, one per step.

    Each epoch visits the pairs in a new random order, in batches of ``batch_size`` (a last, smaller
    batch is dropped). After every step t' is clamped into [0, log 100] as open_clip does
    (``LogitScale.clamp_``). The model is left in eval mode.

    Args:
        model: a ``CLIP``; its parameters' device is used.
        images: uint8 ``(N, C, H, W)`` (``data.Scenes(...).images``), divided by 255 batch by batch.
        tokens: int64 ``(N, L)`` (``data.scenes.tokenize(captions)``).
        epochs, batch_size, lr, weight_decay: the optimisation; ``seed`` fixes the order of the pairs.

    Returns:
        t = e^{t'} after each optimiser step, a list of floats (the curve notebook 15 plots).
    """
    where = "train_clip"
    _check_pairs(model, images, tokens, where)
    epochs, batch_size = (
        check_int(epochs, "epochs", where),
        check_int(batch_size, "batch_size", where, minimum=2),
    )
    if batch_size > len(images):
        fail("batch_size", where, f"<= the number of pairs {len(images)}", batch_size)
    optimizer = adamw(model, lr, weight_decay)
    generator = torch.Generator().manual_seed(check_int(seed, "seed", where, minimum=0))
    device = next(model.parameters()).device
    history = []
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(images) - batch_size + 1, batch_size):
            batch = order[start : start + batch_size]  # (B,) pair indices
            x = images[batch].to(device).float().div_(255)  # (B, C, H, W) in [0, 1]
            loss = model(x, tokens[batch].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            model.logit_scale.clamp_()  # t' into [0, log 100], after the step (open_clip)
            history.append(model.logit_scale().item())
    model.eval()
    return history


def adamw(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices only, as open_clip: not on biases, norm gains, t' or b.

    Decaying t' would pull t towards e^0 = 1, i.e. towards a temperature of 1.
    """
    lr = check_positive(lr, "lr", "train_clip")
    weight_decay = check_positive(weight_decay, "weight_decay", "train_clip", allow_zero=True)
    matrices = [p for p in model.parameters() if p.ndim >= 2]
    others = [p for p in model.parameters() if p.ndim < 2]  # biases, norm gains, t', b
    groups = [{"params": matrices, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def _check_pairs(model, images, tokens, where: str) -> None:
    if not isinstance(model, CLIP):
        fail("model", where, "a CLIP model", f"an object of type {type(model).__name__}", TypeError)
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        is_tensor = isinstance(images, torch.Tensor)
        got = f"dtype {images.dtype}, shape {tuple(images.shape)}" if is_tensor else type(images).__name__
        fail("images", where, "a uint8 tensor (N, C, H, W) (Scenes(...).images)", got, TypeError)
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or len(tokens) != len(images):
        got = f"shape {tuple(tokens.shape)}" if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        fail("tokens", where, f"a tensor (N, L) with one row per image (N = {len(images)})", got)

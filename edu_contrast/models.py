"""Encoders f_θ, projection heads g_θ, BYOL's predictor q_θ, and a text encoder for CLIP.

    h = f_θ(x)   (encoder features: what probes and downstream tasks use)
    z = g_θ(h)   (projection: where the contrastive loss is computed)
    p = q_θ(z)   (BYOL only: predicts the other branch's projection)

Chen et al. 2020 ("SimCLR", Sec. 2.1 and Appendix B.9): f_θ is a ResNet whose CIFAR-10 variant has a
3×3 stride-1 first convolution and no max-pool, g_θ a 2-layer MLP; Grill et al. 2020 ("BYOL",
Sec. 3.3): q_θ is an MLP like g_θ. Every encoder has ``feature_dim``, the size of h.
``TextEncoder`` is the text tower of a two-tower model (Radford et al. 2021, "CLIP", Sec. 2.4): word ids in,
features h out, beside an image encoder (``methods.clip.CLIP`` adds the two projections).
"""

from __future__ import annotations

import torch
from torch import nn

from edu_contrast._validation import check_choice, check_int, fail, reads_tensor_values

__all__ = [
    "SmallConvNet",
    "resnet18_cifar",
    "resnet50_cifar",
    "ProjectionHead",
    "Predictor",
    "TextEncoder",
    "build_encoder",
    "ENCODERS",
]

ENCODERS = ("convnet", "resnet18", "resnet50")


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(
            in_channels, out_channels, kernel, stride=stride, padding=kernel // 2, bias=False
        ),  # BN: bias
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class SmallConvNet(nn.Module):
    """A 4-block CNN for CPU work: ``(B, in_channels, H, W)`` → h ``(B, feature_dim)``.

    Blocks of 3×3 conv-BN-ReLU with widths (w, 2w, 4w, feature_dim) and strides (1, 2, 2, 1), then
    global average pooling, so any H, W ≥ 1 works (8×8 digits end at 2×2, 28×28 Fashion-MNIST at 7×7).
    ``width`` is w. ``last_kernel`` is the last convolution's kernel size: 3, or 1, which drops the
    4w → feature_dim 3×3 convolution that is ~77% of the multiply-adds at width 16 and h of size 256 on
    28×28 images (a float32 step takes ~0.66× the time; docs/benchmarks.md). ``last_stride`` 2 runs that
    convolution at half the resolution (28×28 images end at 4×4, not 7×7): a third of its multiply-adds,
    a wider receptive field for h (the Fashion-MNIST default of the command line; docs/benchmarks.md).
    """

    def __init__(
        self,
        in_channels: int = 1,
        feature_dim: int = 128,
        width: int = 32,
        last_kernel: int = 3,
        last_stride: int = 1,
    ):
        super().__init__()
        in_channels = check_int(in_channels, "in_channels", "SmallConvNet")
        feature_dim = check_int(feature_dim, "feature_dim", "SmallConvNet")
        width = check_int(width, "width", "SmallConvNet")
        last_kernel = check_choice(last_kernel, "last_kernel", "SmallConvNet", (1, 3))
        last_stride = check_choice(last_stride, "last_stride", "SmallConvNet", (1, 2))
        self.in_channels, self.feature_dim = in_channels, feature_dim
        self.features = nn.Sequential(
            _conv_bn_relu(in_channels, width, stride=1),
            _conv_bn_relu(width, 2 * width, stride=2),
            _conv_bn_relu(2 * width, 4 * width, stride=2),
            _conv_bn_relu(4 * width, feature_dim, stride=last_stride, kernel=last_kernel),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x):
        return self.pool(self.features(x)).flatten(1)  # (B, feature_dim, 1, 1) → (B, feature_dim)


def _torchvision_models():
    """``torchvision.models``, imported on first use: it costs ~2 CPU-s (torch._dynamo), which the
    ConvNet runs (the CLI's digits and Fashion-MNIST defaults) need not pay at start-up."""
    import torchvision.models

    return torchvision.models


def _cifar_resnet(arch: str, in_channels: int, where: str) -> nn.Module:
    """torchvision's ResNet with the CIFAR stem: conv1 3×3 stride 1, no max-pool, fc → Identity."""
    in_channels = check_int(in_channels, "in_channels", where)
    model = getattr(_torchvision_models(), arch)(weights=None)
    feature_dim = model.fc.in_features
    model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()  # 32×32 inputs keep their resolution into layer1
    model.fc = nn.Identity()  # the encoder returns h; heads are separate modules
    model.feature_dim = feature_dim
    model.in_channels = in_channels
    return model


def resnet18_cifar(in_channels: int = 3) -> nn.Module:
    """ResNet-18 (He et al. 2016) with SimCLR's CIFAR stem: ``(B, in_channels, 32, 32)`` → ``(B, 512)``."""
    return _cifar_resnet("resnet18", in_channels, "resnet18_cifar")


def resnet50_cifar(in_channels: int = 3) -> nn.Module:
    """ResNet-50 (He et al. 2016) with SimCLR's CIFAR stem: ``(B, in_channels, 32, 32)`` → ``(B, 2048)``."""
    return _cifar_resnet("resnet50", in_channels, "resnet50_cifar")


class ProjectionHead(nn.Module):
    """g_θ: z = W_L σ(BN(W_{L−1} … σ(BN(W_1 h)))), an MLP of ``num_layers`` = L linear layers.

    SimCLR's g_θ (Chen et al. 2020, Sec. 2.1; L = 2, with BN as in SimCLRv2). ``in_dim`` is the size of h
    (the encoder's ``feature_dim``), ``hidden_dim`` the width of the hidden layers, ``out_dim`` the size
    of z. ``num_layers=1`` is a linear projection.
    """

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int = 128, num_layers: int = 2):
        super().__init__()
        for name, value in (("in_dim", in_dim), ("hidden_dim", hidden_dim), ("out_dim", out_dim)):
            check_int(value, name, "ProjectionHead")
        num_layers = check_int(num_layers, "num_layers", "ProjectionHead")
        self.in_dim, self.out_dim = in_dim, out_dim
        widths = [in_dim] + [hidden_dim] * (num_layers - 1)
        layers: list[nn.Module] = []
        for width_in, width_out in zip(widths[:-1], widths[1:]):
            layers += [
                nn.Linear(width_in, width_out, bias=False),
                nn.BatchNorm1d(width_out),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Linear(widths[-1], out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, h):
        return self.net(h)  # (B, in_dim) → (B, out_dim)


class Predictor(nn.Module):
    """q_θ: p = W₂ σ(BN(W₁ z)), BYOL's predictor (Grill et al. 2020, Sec. 3.3): ``(B, dim)`` → ``(B, dim)``.

    ``dim`` is the projection size, ``hidden_dim`` the hidden width (4096 in the paper, 512 here).
    """

    def __init__(self, dim: int = 128, hidden_dim: int = 512):
        super().__init__()
        dim = check_int(dim, "dim", "Predictor")
        hidden_dim = check_int(hidden_dim, "hidden_dim", "Predictor")
        self.dim = dim
        self.net = nn.Sequential(
            nn.Linear(dim, hidden_dim, bias=False),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, dim),
        )

    def forward(self, z):
        return self.net(z)


class TextEncoder(nn.Module):
    r"""A small Transformer over word ids: tokens ``(B, L)`` → h ``(B, feature_dim)``, a mean over the words.

        e_l = E[w_l] + P_l,    (u_1 … u_L) = LayerNorm(Transformer(e_1 … e_L)),
        h = (1/|W|) Σ_{l ∈ W} u_l,    W = {l : w_l ≠ 0}, the positions of real words

    E is the token embedding (``vocab_size`` × ``feature_dim``), P a learned position embedding (so word
    order can matter), the Transformer ``depth`` pre-LayerNorm encoder layers with ``heads`` heads whose
    attention never looks at padding (id 0); h averages the outputs of the real words. CLIP's text tower
    is such a Transformer, read out at an end-of-text token (Radford et al. 2021, Sec. 2.4); the mean
    over the real words needs no such token and ignores the padding. Why a Transformer and not a GRU:
    it is the architecture of CLIP, and attention lets any word look at any other in one step (the
    colour at position 2 and the shape at position 4 of "a small red circle").

    Args:
        vocab_size: number of word ids (``len(data.scenes.VOCABULARY)``), id 0 the padding.
        feature_dim: width of E, P and the Transformer; the size of h.
        depth, heads: encoder layers and attention heads (``feature_dim`` divisible by ``heads``).
        max_length: the longest caption (in words) the position embedding covers.
    """

    def __init__(
        self, vocab_size: int, feature_dim: int = 64, depth: int = 2, heads: int = 4, max_length: int = 16
    ):
        super().__init__()
        where = "TextEncoder"
        vocab_size = check_int(vocab_size, "vocab_size", where, minimum=2)
        feature_dim, depth = check_int(feature_dim, "feature_dim", where), check_int(depth, "depth", where)
        heads, max_length = check_int(heads, "heads", where), check_int(max_length, "max_length", where)
        if feature_dim % heads:
            fail("feature_dim", where, f"a multiple of heads={heads}", feature_dim)
        self.vocab_size, self.feature_dim, self.max_length = vocab_size, feature_dim, max_length
        self.token_embedding = nn.Embedding(vocab_size, feature_dim, padding_idx=0)  # E
        self.position_embedding = nn.Parameter(torch.empty(max_length, feature_dim))  # P
        nn.init.normal_(self.token_embedding.weight, std=0.02)  # CLIP's initialisation (open_clip)
        nn.init.normal_(self.position_embedding, std=0.01)
        layer = nn.TransformerEncoderLayer(
            feature_dim,
            heads,
            dim_feedforward=4 * feature_dim,
            dropout=0.0,
            batch_first=True,
            norm_first=True,
        )
        self.transformer = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(feature_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        self._check(tokens)
        words = tokens != 0  # (B, L): True at real words, False at padding
        e = self.token_embedding(tokens) + self.position_embedding[: tokens.shape[1]]  # (B, L, feature_dim)
        u = self.norm(self.transformer(e, src_key_padding_mask=~words))  # (B, L, feature_dim)
        weights = words.unsqueeze(-1).to(u.dtype)  # (B, L, 1)
        return (u * weights).sum(1) / weights.sum(1)  # (B, feature_dim): the mean over the real words

    def _check(self, tokens) -> None:
        where = "TextEncoder"
        hint = "word ids from data.scenes.tokenize"
        if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.int64:
            got = f"dtype {tokens.dtype}" if isinstance(tokens, torch.Tensor) else type(tokens).__name__
            fail("tokens", where, f"an int64 tensor of {hint}", got, TypeError)
        if tokens.dim() != 2 or not 1 <= tokens.shape[1] <= self.max_length or tokens.shape[0] < 1:
            expected = f"of shape (B, L) with 1 <= L <= max_length={self.max_length}"
            fail("tokens", where, expected, f"shape {tuple(tokens.shape)}")
        if reads_tensor_values() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            fail("tokens", where, f"ids in [0, {self.vocab_size})", f"ids {tokens.min()}..{tokens.max()}")
        if reads_tensor_values() and not (tokens != 0).any(1).all():
            empty = (tokens == 0).all(1).nonzero()[:3, 0].tolist()
            fail("tokens", where, "rows with at least one word (id != 0)", f"all-padding rows {empty}")


def build_encoder(name: str, in_channels: int, **kwargs) -> nn.Module:
    """The encoder f_θ called ``name`` ∈ {"convnet", "resnet18", "resnet50"}, with ``.feature_dim``.

    ``kwargs`` go to ``SmallConvNet`` (``feature_dim``, ``width``, ``last_kernel``, ``last_stride``); the
    ResNets take none.
    """
    check_choice(name, "name", "build_encoder", ENCODERS)
    if name == "convnet":
        return SmallConvNet(in_channels, **kwargs)
    if kwargs:
        raise TypeError(f"build_encoder({name!r}) takes no extra arguments. Got {sorted(kwargs)} instead.")
    return resnet18_cifar(in_channels) if name == "resnet18" else resnet50_cifar(in_channels)

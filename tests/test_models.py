"""Encoders, heads and predictor: shapes, the CIFAR stem, feature_dim, and bad arguments."""

import pytest
import torch
from torch import nn

from edu_contrast.models import (
    ENCODERS,
    Predictor,
    ProjectionHead,
    SmallConvNet,
    build_encoder,
    resnet18_cifar,
    resnet50_cifar,
)


@pytest.mark.parametrize("in_channels, side", [(1, 8), (1, 28), (3, 32), (4, 28)])
def test_small_convnet_shapes_on_digits_fashion_cifar_and_randbit(in_channels, side):
    net = SmallConvNet(in_channels, feature_dim=64, width=8)
    h = net(torch.rand(5, in_channels, side, side))
    assert h.shape == (5, 64) and net.feature_dim == 64
    h.sum().backward()  # trains end to end
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())


def test_small_convnet_is_built_from_conv_bn_relu_blocks_and_global_pooling():
    net = SmallConvNet()
    kinds = [type(m) for m in net.features.modules() if not isinstance(m, nn.Sequential)]
    assert kinds == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 4
    assert [m.stride for m in net.features.modules() if isinstance(m, nn.Conv2d)] == [
        (1, 1),
        (2, 2),
        (2, 2),
        (1, 1),
    ]
    assert net.feature_dim == 128 and net.in_channels == 1
    assert isinstance(net.pool, nn.AdaptiveAvgPool2d)


def test_small_convnet_pools_globally():
    """Global average pooling: h does not depend on where a pattern sits, for shifts by a multiple of
    the total stride (4) that keep the receptive field (17×17) inside the image."""
    torch.manual_seed(0)
    net = SmallConvNet(1, feature_dim=16, width=4).eval()
    x = torch.zeros(1, 1, 40, 40)
    x[..., 12:16, 12:16] = 1.0
    shifted = torch.roll(x, shifts=(12, 8), dims=(2, 3))
    assert torch.allclose(net(x), net(shifted), atol=1e-5)


@pytest.mark.parametrize("factory, dim", [(resnet18_cifar, 512), (resnet50_cifar, 2048)])
def test_cifar_resnets_have_the_cifar_stem(factory, dim):
    model = factory(in_channels=3)
    assert model.feature_dim == dim
    assert (
        model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1) and model.conv1.padding == (1, 1)
    )
    assert isinstance(model.maxpool, nn.Identity) and isinstance(model.fc, nn.Identity)
    model.eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 32, 32)).shape == (2, dim)


def test_cifar_stem_keeps_32x32_resolution_into_layer1():
    model = resnet18_cifar().eval()
    seen = {}

    def record(module, inputs, output):
        seen["shape"] = tuple(output.shape)

    model.layer1.register_forward_hook(record)
    with torch.no_grad():
        model(torch.rand(1, 3, 32, 32))
    assert seen["shape"] == (1, 64, 32, 32)  # the ImageNet stem would give 8×8


def test_resnet_with_extra_input_channels():
    model = resnet18_cifar(in_channels=5).eval()  # RandBit: RGB + 2 bit planes
    assert model.conv1.in_channels == 5
    with torch.no_grad():
        assert model(torch.rand(2, 5, 32, 32)).shape == (2, 512)


@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_projection_head_layers(num_layers):
    head = ProjectionHead(64, hidden_dim=32, out_dim=16, num_layers=num_layers)
    linears = [m for m in head.net if isinstance(m, nn.Linear)]
    assert len(linears) == num_layers
    assert sum(isinstance(m, nn.BatchNorm1d) for m in head.net) == num_layers - 1
    assert (
        isinstance(head.net[-1], nn.Linear)
        and linears[0].in_features == 64
        and linears[-1].out_features == 16
    )
    assert head(torch.rand(6, 64)).shape == (6, 16)
    assert head.in_dim == 64 and head.out_dim == 16


def test_default_head_is_linear_bn_relu_linear():
    head = ProjectionHead(512)
    assert [type(m) for m in head.net] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert head.net[0].out_features == 512 and head.net[-1].out_features == 128


def test_predictor_maps_projection_space_to_itself():
    q = Predictor(dim=32, hidden_dim=64)
    assert [type(m) for m in q.net] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Linear]
    assert q(torch.rand(4, 32)).shape == (4, 32) and q.dim == 32


@pytest.mark.parametrize("name, dim", [("convnet", 128), ("resnet18", 512), ("resnet50", 2048)])
def test_build_encoder(name, dim):
    encoder = build_encoder(name, in_channels=1)
    assert encoder.feature_dim == dim
    first_conv = next(m for m in encoder.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 1


def test_build_encoder_passes_convnet_options():
    assert build_encoder("convnet", 3, feature_dim=32, width=8).feature_dim == 32
    assert set(ENCODERS) == {"convnet", "resnet18", "resnet50"}


def test_last_kernel_1_replaces_the_last_3x3_convolution_by_a_1x1_one():
    # The 4w → feature_dim convolution is most of the multiply-adds on 28×28 images (docs/benchmarks.md).
    wide, narrow = (
        SmallConvNet(1, feature_dim=64, width=8),
        SmallConvNet(1, feature_dim=64, width=8, last_kernel=1),
    )
    last = [m for m in narrow.modules() if isinstance(m, nn.Conv2d)][-1]
    assert (
        last.kernel_size == (1, 1)
        and last.padding == (0, 0)
        and (last.in_channels, last.out_channels) == (32, 64)
    )
    assert [m for m in wide.modules() if isinstance(m, nn.Conv2d)][-1].kernel_size == (3, 3)  # the default
    x = torch.rand(2, 1, 28, 28)
    assert narrow(x).shape == wide(x).shape == (2, 64)
    assert narrow.features[3][0].weight.numel() * 9 == wide.features[3][0].weight.numel()
    with pytest.raises(
        ValueError, match="'last_kernel' parameter of SmallConvNet must be one of 1, 3. Got 5"
    ):
        SmallConvNet(last_kernel=5)


def test_last_stride_2_runs_the_last_convolution_at_half_the_resolution():
    # Fashion-MNIST's command-line default: the 4w → feature_dim 3×3 convolution at 4×4 instead of 7×7.
    strided, plain = (
        SmallConvNet(1, feature_dim=64, width=8, last_stride=2),
        SmallConvNet(1, feature_dim=64, width=8),
    )
    assert strided.features[3][0].stride == (2, 2) and plain.features[3][0].stride == (1, 1)  # the default
    x = torch.rand(2, 1, 28, 28)
    assert strided.features(x).shape == (2, 64, 4, 4) and plain.features(x).shape == (2, 64, 7, 7)
    assert strided(x).shape == plain(x).shape == (2, 64)
    plain.load_state_dict(strided.state_dict())  # the same weights: only the sampling grid differs
    plain.eval(), strided.eval()  # BN as a fixed affine map, so it commutes with the subsampling
    every_other = plain.features(x)[:, :, ::2, ::2]  # (2, 64, 7, 7) → (2, 64, 4, 4): rows/columns 0, 2, 4, 6
    torch.testing.assert_close(strided(x), every_other.mean(dim=(2, 3)))
    with pytest.raises(
        ValueError, match="'last_stride' parameter of SmallConvNet must be one of 1, 2. Got 3"
    ):
        SmallConvNet(last_stride=3)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"'name' parameter of build_encoder must be one of 'convnet'"):
        build_encoder("resnet34", 3)
    with pytest.raises(TypeError, match="takes no extra arguments"):
        build_encoder("resnet18", 3, width=8)
    with pytest.raises(ValueError, match="'in_channels' parameter of SmallConvNet"):
        SmallConvNet(in_channels=0)
    with pytest.raises(TypeError, match="'feature_dim' parameter of SmallConvNet"):
        SmallConvNet(feature_dim=12.5)
    with pytest.raises(ValueError, match="'num_layers' parameter of ProjectionHead"):
        ProjectionHead(8, num_layers=0)
    with pytest.raises(ValueError, match="'in_channels' parameter of resnet18_cifar"):
        resnet18_cifar(in_channels=0)
    with pytest.raises(ValueError, match="'hidden_dim' parameter of Predictor"):
        Predictor(hidden_dim=0)

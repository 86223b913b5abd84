"""lessons.simclr_cifar10 (notebook 09): SimCLR's 𝒯 and its views; the GPU check; checkpoints on Drive."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest
import torch

from edu_contrast import augment, budget, data, models
from edu_contrast.lessons import simclr_cifar10 as lesson
from edu_contrast.methods import SimCLR

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def image():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 32, 32, generator=g)
    x[0, 8:24, 8:24] = 1.0  # a red-ish square, so colour changes are visible
    return x


def test_config_defaults_are_simclr_cifar10():
    assert lesson.simclr_augment_config() == augment.AugmentConfig()  # s = 0.5, s_min = 0.2, p_g = 0.2


def test_simclr_step_returns_simclr_loss_and_takes_one_optimizer_step():
    """L before the step is SimCLR.loss (one pass over both views, BatchNorm over 2N); then one SGD step."""
    torch.manual_seed(0)
    method = SimCLR(models.SmallConvNet(in_channels=3, width=4), temperature=0.3)
    x = torch.rand(6, 3, 8, 8)  # (N, C, H, W)
    x1, x2 = x, x.flip(-1)
    before = {k: v.detach().clone() for k, v in method.named_parameters()}
    method.zero_grad()
    expected = method.loss(x1, x2)
    expected.backward()
    gradients = {k: v.grad.clone() for k, v in method.named_parameters()}
    optimizer = torch.optim.SGD(method.parameters(), lr=0.1)
    method.zero_grad()
    loss = lesson.simclr_step(method.encoder, method.projector, optimizer, x1, x2, 0.3)
    torch.testing.assert_close(loss, expected.detach())
    assert not loss.requires_grad
    for k, v in method.named_parameters():
        torch.testing.assert_close(v.detach(), before[k] - 0.1 * gradients[k])


def test_config_strength_scales_the_jitter():
    cfg = lesson.simclr_augment_config(0.08, 1.0, 0.0)
    assert cfg.crop_scale == (0.08, 1.0) and cfg.grayscale_p == 0.0
    assert (cfg.brightness, cfg.contrast, cfg.saturation) == pytest.approx((0.8, 0.8, 0.8))
    assert cfg.hue == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"crop_min_scale": 0}, "'crop_min_scale' parameter of simclr_augment_config must be > 0"),
        ({"crop_min_scale": 1.5}, "must be in \\(0, 1\\]"),
        ({"color_strength": 2.0}, "'color_strength' parameter .* must be in \\[0, 1.25\\]"),
        ({"grayscale_p": 1.2}, "'grayscale_p' parameter .* a probability"),
    ],
)
def test_config_rejects_out_of_range(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lesson.simclr_augment_config(**kwargs)


def test_sample_views_shapes_seeding_and_isolation(image):
    state = torch.get_rng_state()
    a1, b1 = lesson.sample_views(image, n_views=4, seed=3)
    assert torch.equal(torch.get_rng_state(), state)  # the notebook's random stream is untouched
    a2, b2 = lesson.sample_views(image, n_views=4, seed=3)
    a3, _ = lesson.sample_views(image, n_views=4, seed=4)
    assert a1.shape == b1.shape == (4, 3, 32, 32)
    assert torch.equal(a1, a2) and torch.equal(b1, b2) and not torch.equal(a1, a3)
    assert not torch.allclose(a1[0], a1[1])  # each view is a fresh draw
    assert float(a1.min()) >= 0 and float(a1.max()) <= 1


def test_identity_distribution_returns_the_image_in_both_pipelines(image):
    identity = augment.AugmentConfig(
        crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, grayscale_p=0.0
    )
    per_image, batched = lesson.sample_views(image, identity, n_views=3)
    assert torch.allclose(per_image, image.expand(3, -1, -1, -1), atol=1e-4)
    assert torch.allclose(batched, image.expand(3, -1, -1, -1), atol=1e-4)


def test_grayscale_always_gives_equal_channels_in_both_pipelines(image):
    cfg = lesson.simclr_augment_config(0.5, 0.0, 1.0)
    for views in lesson.sample_views(image, cfg, n_views=3):
        assert torch.allclose(views[:, 0], views[:, 1], atol=1e-5) and torch.allclose(
            views[:, 1], views[:, 2], atol=1e-5
        )


def test_uint8_images_are_accepted_and_bad_shapes_rejected(image):
    as_uint8 = (image * 255).round().to(torch.uint8)
    per_image, _ = lesson.sample_views(as_uint8, n_views=2)
    assert per_image.dtype == torch.float32 and float(per_image.max()) <= 1
    with pytest.raises(
        ValueError, match="'image' parameter of sample_views must be a \\(3, H, W\\) RGB image"
    ):
        lesson.sample_views(torch.rand(1, 32, 32))


def _gray(n: int, side: int) -> data.ImageTensors:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (n, 1, side, side), generator=g, dtype=torch.uint8)  # never black
    return data.ImageTensors(images, torch.arange(n) % 3, ["a", "b", "c"])


def test_rgb32_stand_in_pads_centred_and_repeats_the_gray_channel():
    gray = _gray(4, 28)
    rgb = lesson.rgb32_stand_in(gray)
    assert rgb.images.shape == (4, 3, 32, 32) and rgb.images.dtype == torch.uint8
    assert torch.equal(rgb.images[:, 0], rgb.images[:, 1]) and torch.equal(rgb.images[:, 1], rgb.images[:, 2])
    assert torch.equal(rgb.images[:, :, 2:30, 2:30], gray.images.expand(-1, 3, -1, -1))  # 2 px each side
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert int(rgb.images[:, :, border].max()) == 0  # the border is black, the image untouched
    assert torch.equal(rgb.labels, gray.labels) and rgb.classes == gray.classes


def test_rgb32_stand_in_odd_padding_and_full_size():
    odd = lesson.rgb32_stand_in(_gray(2, 29))  # 3 px to share: 1 before, 2 after
    assert odd.images.shape == (2, 3, 32, 32)
    assert int(odd.images[:, :, 1:30, 1:30].min()) > 0  # the image: rows and columns 1 … 29
    assert int(odd.images[:, :, 0].max()) == 0 and int(odd.images[:, :, 30:].max()) == 0
    assert int(odd.images[:, :, :, 0].max()) == 0 and int(odd.images[:, :, :, 30:].max()) == 0
    same = _gray(2, 32)
    assert torch.equal(lesson.rgb32_stand_in(same).images[:, 2], same.images[:, 0])


def test_rgb32_stand_in_rejects_colour_large_or_plain_tensors():
    rgb = data.ImageTensors(torch.zeros(2, 3, 28, 28, dtype=torch.uint8), [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="'dataset' parameter of rgb32_stand_in must be grayscale images"):
        lesson.rgb32_stand_in(rgb)
    with pytest.raises(ValueError, match="of side ≤ 32"):
        lesson.rgb32_stand_in(_gray(2, 40))
    with pytest.raises(TypeError, match="must be an ImageTensors"):
        lesson.rgb32_stand_in(torch.zeros(2, 1, 28, 28, dtype=torch.uint8))


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_check_gpu_lab_mode_without_gpu_says_how_and_returns_cpu(no_gpu, capsys):
    assert lesson.check_gpu(required=False) == torch.device("cpu")
    out = capsys.readouterr().out
    assert "No GPU found" in out and "Runtime → Change runtime type → T4 GPU" in out
    assert "Lab and quick mode continue on the CPU" in out


def test_check_gpu_full_mode_without_gpu_refuses_with_the_way_out(no_gpu):
    with pytest.raises(lesson.GPURequiredError) as info:
        lesson.check_gpu(required=True)
    message = str(info.value)
    assert "Runtime → Change runtime type → T4 GPU" in message  # how to get a GPU
    assert 'MODE = "lab"' in message  # how to run on the CPU instead
    assert isinstance(info.value, RuntimeError)


def test_check_gpu_with_gpu_returns_cuda_and_names_it(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    props = types.SimpleNamespace(name="Tesla T4", total_memory=15 * 2**30)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    assert lesson.check_gpu(required=True) == torch.device("cuda", 0)
    assert "Tesla T4, 15.0 GiB" in capsys.readouterr().out


def test_check_gpu_rejects_non_bool():
    with pytest.raises(TypeError, match="'required' parameter of check_gpu must be a bool"):
        lesson.check_gpu(required="yes")


def test_checkpoint_dir_uses_drive_when_mounted(tmp_path, capsys):
    drive_home = tmp_path / "MyDrive"
    drive_home.mkdir()
    folder = lesson.checkpoint_dir("simclr", local_root=tmp_path / "runs", drive_home=drive_home)
    assert folder == drive_home / "edu_contrast" / "simclr" and folder.is_dir()
    assert not (tmp_path / "runs").exists()
    assert "Google Drive" in capsys.readouterr().out


def test_checkpoint_dir_falls_back_to_local_and_is_stable(tmp_path, capsys):
    drive_home = tmp_path / "not_mounted"
    first = lesson.checkpoint_dir("run", local_root=tmp_path / "runs", drive_home=drive_home)
    again = lesson.checkpoint_dir("run", local_root=tmp_path / "runs", drive_home=drive_home)
    assert first == again == tmp_path / "runs" / "run" and first.is_dir()  # same folder: resume finds it
    assert "local disk" in capsys.readouterr().out
    assert not drive_home.exists()


@pytest.mark.parametrize("name", ["", "..", "a/b", "../up", 3])
def test_checkpoint_dir_rejects_paths_as_names(tmp_path, name):
    with pytest.raises(ValueError, match="'run_name' parameter of checkpoint_dir"):
        lesson.checkpoint_dir(name, local_root=tmp_path)


def test_in_colab_and_mount_drive_outside_colab(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert not lesson.in_colab()
    assert lesson.mount_drive() is False
    assert "Not in Colab" in capsys.readouterr().out


def _fake_colab(monkeypatch, mount):
    package = types.ModuleType("google.colab")
    package.drive = types.SimpleNamespace(mount=mount)
    monkeypatch.setitem(sys.modules, "google.colab", package)


def test_mount_drive_in_colab_mounts_at_the_mount_point(monkeypatch, tmp_path):
    calls = []

    def mount(path):
        calls.append(path)
        (tmp_path / "MyDrive").mkdir()

    _fake_colab(monkeypatch, mount)
    assert lesson.in_colab()
    assert lesson.mount_drive(tmp_path) is True
    assert calls == [str(tmp_path)]


def test_mount_drive_declined_is_not_fatal(monkeypatch, tmp_path, capsys):
    def mount(path):
        raise ValueError("mount failed")

    _fake_colab(monkeypatch, mount)
    assert lesson.mount_drive(tmp_path) is False
    assert "wiped when the session ends" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.notebook
def test_notebook_09_full_mode_without_gpu_stops_at_the_gpu_check(monkeypatch):
    """Full mode on a CPU refuses in section 1, before any download or training."""
    from pathlib import Path

    from nbclient.exceptions import CellExecutionError

    from edu_contrast.notebook_runner import execute_notebook

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the kernel inherits it: no GPU even on a GPU machine
    path = Path(__file__).resolve().parents[1] / "notebooks" / "09_simclr_cifar10.ipynb"
    with pytest.raises(CellExecutionError) as info:
        execute_notebook(path, mode="full")
    message = str(info.value)
    assert "GPURequiredError" in message and "Runtime → Change runtime type → T4 GPU" in message
    assert 'lesson.check_gpu(required=setup.mode == "full")' in message  # the failing cell: the GPU check


def test_the_reference_recipe_is_the_course_briefs():
    """ResNet-50 (CIFAR stem), τ = 0.07, batch 256, AdamW 3e-4 / 1e-4, cosine without warm-up, 80 epochs,
    crop to 32×32 + jitter + flip + blur + solarize, a probe every 10 epochs, target 88 %."""
    ref = lesson.RECIPES["reference"]
    torch.manual_seed(0)
    method = ref.make_method()
    assert isinstance(method, SimCLR) and float(method.temperature) == pytest.approx(0.07)
    assert sum(p.numel() for p in method.encoder.parameters()) == sum(
        p.numel() for p in models.resnet50_cifar().parameters()
    )
    assert method.encoder.feature_dim == 2048
    settings = ref.fit_settings()
    assert settings["batch_size"] == 256 and settings["lr"] == 3e-4 and settings["weight_decay"] == 1e-4
    assert (
        settings["warmup_epochs"] == 0 and ref.epochs == 80 and ref.probe_every == 10 and ref.target == 0.88
    )
    cfg = settings["augment_config"]
    assert cfg.blur_p > 0 and cfg.solarize_p > 0 and cfg.flip_p == 0.5 and cfg.jitter_p > 0
    assert cfg.crop_scale == (0.2, 1.0)
    fast = lesson.RECIPES["fast"]
    assert (fast.encoder, fast.temperature, fast.batch_size, fast.epochs) == ("resnet18", 0.5, 512, 200)
    assert fast.augment_config.blur_p == 0 and fast.augment_config.solarize_p == 0


def test_blur_and_solarize_exist_in_the_batched_augmentations():
    """The reference 𝒯 on the device: blur smooths (lower total variation), solarize inverts pixels ≥ ½."""
    x = torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    only_blur = augment.AugmentConfig(
        crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip_p=0, jitter_p=0, grayscale_p=0, blur_p=1.0
    )
    only_solarize = dataclasses.replace(only_blur, blur_p=0.0, solarize_p=1.0)
    torch.manual_seed(0)
    blurred = augment.batched(32, 3, only_blur)(x)

    def variation(t):
        return (t[..., 1:] - t[..., :-1]).abs().mean()

    assert blurred.shape == x.shape and variation(blurred) < 0.8 * variation(x)
    solarized = augment.batched(32, 3, only_solarize)(x)
    assert torch.allclose(solarized, torch.where(x >= 0.5, 1 - x, x), atol=1e-6)
    views = augment.batched(32, 3, lesson.reference_augment_config())(x)
    assert views.shape == x.shape and torch.isfinite(views).all() and 0 <= views.min() <= views.max() <= 1


def test_probe_every_writes_a_table_that_a_new_session_reads_back(tmp_path):
    """Probes at epochs k, 2k and the last; the JSON file survives a new session; no epoch twice."""
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8, generator=g)
    train = data.ImageTensors(images[:30], torch.arange(30) % 3, ["a", "b", "c"])
    test = data.ImageTensors(images[30:], torch.arange(10) % 3, ["a", "b", "c"])
    method = SimCLR(models.SmallConvNet(3, feature_dim=8, width=4))
    path = tmp_path / "probes.json"
    probe = lesson.ProbeEvery(method, train, test, path, every=2, epochs=5)
    for epoch in range(1, 4):
        probe({"epoch": epoch, "knn_accuracy": 0.1 * epoch})
    assert [row["epoch"] for row in probe.rows] == [2] and path.is_file()
    again = lesson.ProbeEvery(method, train, test, path, every=2, epochs=5)  # after a disconnect
    for epoch in (2, 4, 5):
        again({"epoch": epoch, "knn_accuracy": 0.5})
    rows = json.loads(path.read_text())
    assert [row["epoch"] for row in rows] == [2, 4, 5]
    assert all(0 <= row["linear_accuracy"] <= 1 for row in rows) and rows[0]["knn_accuracy"] == 0.2
    with pytest.raises(ValueError, match="'every' parameter of ProbeEvery"):
        lesson.ProbeEvery(method, train, test, path, every=0, epochs=5)


def test_the_reference_recipes_cost_is_the_tools_count_and_projects_hours_on_a_t4():
    """budget.RECIPE_COSTS is tools/full_mode_costs.py's output for the reference recipe (rerun the tool
    after changing the recipe); on a T4 it is projected well past a 30-minute budget, as an estimate."""
    spec = importlib.util.spec_from_file_location("full_mode_costs", ROOT / "tools" / "full_mode_costs.py")
    tool = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tool  # its dataclass looks itself up there
    spec.loader.exec_module(tool)
    assert tool.recipe_costs() == budget.RECIPE_COSTS
    ref = lesson.RECIPES["reference"]
    assert budget.RECIPE_COSTS["09_simclr_cifar10:reference"][1] == ref.epochs * (50_000 // ref.batch_size)
    plan = budget.plan_full_mode("09_simclr_cifar10:reference", "Tesla T4", 30)
    assert not plan.fits and plan.seconds > 3600 and "(estimate)" in plan.projection
    assert "09_simclr_cifar10:reference" in plan.summary()


def test_notebook_09_states_the_cost_models_t4_estimates_of_both_recipes():
    """The time table (cell 4) and the header (cell 0) quote budget's projection on a T4, as estimates."""
    cells = json.loads((ROOT / "notebooks" / "09_simclr_cifar10.ipynb").read_text())["cells"]
    header, recipes = "".join(cells[0]["source"]), "".join(cells[4]["source"])
    for name, row in (("09_simclr_cifar10", 'RECIPE = "fast"'), ("09_simclr_cifar10:reference", "reference")):
        hours = budget.format_duration(budget.plan_full_mode(name, "Tesla T4").seconds)
        assert f"≈ {hours} (estimate)" in recipes and f"≈ {hours}" in header, (name, hours)
        assert any(row in line and f"≈ {hours}" in line for line in recipes.splitlines())
    for anchor in ("84.8 %", "87 min", "87.9 %", "RTX A6000", "90.74 %", "11.9 s per epoch", "A100"):
        assert anchor in recipes, anchor


def _pilot(alignment: float, epochs: int = 2) -> dict:
    """What ``train.fit`` returns, reduced to what ``temperature_effects`` reads: one record per epoch."""
    history = [{"epoch": e, "alignment": 1.0 if e == 0 else alignment} for e in range(epochs + 1)]
    return {"history": history, "linear_accuracy": 0.5}


TAU_MARGIN = 0.1  # notebook 09's margin for the τ check (docs/check_margins.md, 09-low-tau-aligns-tighter)


def test_temperature_effect_is_the_alignment_ratio_of_the_last_epoch():
    effects = lesson.temperature_effects({0.5: _pilot(0.31), 0.07: _pilot(0.25)})  # order does not matter
    assert effects == pytest.approx({"alignment: high τ / low τ − 1": 0.31 / 0.25 - 1})
    lesson.check_effect(effects, "alignment: high τ / low τ − 1", margin=TAU_MARGIN)


@pytest.mark.parametrize(
    "broken",
    [
        {0.07: _pilot(0.3), 0.5: _pilot(0.3)},  # both pilots trained at the same τ: nothing to tell apart
        {0.07: _pilot(0.4), 0.5: _pilot(0.3)},  # the low τ's views further apart: the opposite effect
    ],
)
def test_the_tau_check_fails_without_the_effect(broken):
    effects = lesson.temperature_effects(broken)
    with pytest.raises(
        AssertionError, match="alignment: high τ / low τ − 1 = .*the effect this check teaches"
    ):
        lesson.check_effect(effects, "alignment: high τ / low τ − 1", margin=TAU_MARGIN)


@pytest.mark.parametrize(
    ("pilots", "message"),
    [
        ({0.5: _pilot(0.3)}, "'pilots' parameter of temperature_effects must be a dict .* of at least two"),
        ({0.07: _pilot(0.0), 0.5: _pilot(0.3)}, "finite alignments, the low τ's > 0"),
        ({0.07: _pilot(float("nan")), 0.5: _pilot(0.3)}, "finite alignments"),
    ],
)
def test_temperature_effects_name_a_bad_input(pilots, message):
    with pytest.raises(ValueError, match=message):
        lesson.temperature_effects(pilots)

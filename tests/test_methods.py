"""Methods: each loss is its functional loss of the projections, MoCo's queue, BYOL's EMA, errors."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import losses
from edu_contrast.methods import BYOL, METHODS, MoCo, SimCLR, SupCon, VICReg, build_method, target_momentum


class TinyEncoder(nn.Module):
    """f: flatten an (B, 1, 8, 8) image and map it linearly to 16 features."""

    feature_dim = 16

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, self.feature_dim), nn.ReLU())

    def forward(self, x):
        return self.net(x)


def _views(batch=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 1, 8, 8, generator=g)
    return x + 0.05 * torch.randn(x.shape, generator=g), x + 0.05 * torch.randn(x.shape, generator=g)


def _make(cls, **kwargs):
    torch.manual_seed(0)
    return cls(TinyEncoder(), hidden_dim=32, out_dim=8, **kwargs)


ALL = [(SimCLR, {}), (MoCo, {"queue_size": 16}), (BYOL, {}), (SupCon, {}), (VICReg, {})]


# ---------------------------------------------------------------- each loss is its functional loss


def test_simclr_loss_is_nt_xent_of_the_projections():
    method = _make(SimCLR, temperature=0.3)
    x1, x2 = _views()
    z1, z2 = method.project_pair(x1, x2)
    expected = losses.nt_xent(z1, z2, temperature=0.3)
    assert torch.allclose(method.loss(x1, x2), expected, rtol=0, atol=1e-6)
    method.eval()  # per-sample BatchNorm: project(x1), project(x2) separately give the same z
    expected = losses.nt_xent(method.project(x1), method.project(x2), temperature=0.3)
    assert torch.allclose(method.loss(x1, x2), expected, rtol=0, atol=1e-6)


def test_project_is_head_of_embed():
    method = _make(SimCLR).eval()
    x, _ = _views()
    h = method.embed(x)
    assert h.shape == (8, 16)
    assert torch.equal(method.project(x), method.projector(h))


def test_supcon_with_distinct_labels_and_equal_temperatures_is_simclr():
    supcon = _make(SupCon, temperature=0.5, base_temperature=0.5)
    simclr = _make(SimCLR, temperature=0.5)
    simclr.load_state_dict(supcon.state_dict())
    x1, x2 = _views()
    assert torch.allclose(supcon.loss(x1, x2, torch.arange(8)), simclr.loss(x1, x2), rtol=0, atol=1e-5)


def test_supcon_loss_is_supcon_of_the_stacked_projections():
    method = _make(SupCon, temperature=0.1)
    x1, x2 = _views()
    labels = torch.tensor([0, 1, 0, 1, 2, 2, 0, 1])
    z1, z2 = method.project_pair(x1, x2)
    expected = losses.supcon(torch.stack([z1, z2], dim=1), labels, temperature=0.1, base_temperature=0.07)
    assert torch.allclose(method.loss(x1, x2, labels), expected, rtol=0, atol=1e-6)


def test_supcon_without_labels_says_use_simclr():
    method = _make(SupCon)
    with pytest.raises(ValueError, match=r"'labels'.*SimCLR"):
        method.loss(*_views())


def test_vicreg_loss_is_vicreg_of_the_projections():
    method = _make(VICReg, sim_weight=10.0, var_weight=5.0, cov_weight=2.0)
    x1, x2 = _views()
    z1, z2 = method.project_pair(x1, x2)
    expected = losses.vicreg(z1, z2, sim_weight=10.0, var_weight=5.0, cov_weight=2.0)
    assert torch.allclose(method.loss(x1, x2), expected, rtol=1e-6, atol=1e-6)


def test_byol_loss_is_symmetric_prediction_of_the_target():
    method = _make(BYOL)
    with torch.no_grad():  # make the target differ from the online network
        for p in method.target_encoder.parameters():
            p.add_(0.1 * torch.randn_like(p))
    method.eval()
    x1, x2 = _views()
    p1, p2 = method.predictor(method.project(x1)), method.predictor(method.project(x2))
    t1, t2 = method.target(x1), method.target(x2)
    expected = losses.byol(p1, t2) + losses.byol(p2, t1)
    assert torch.allclose(method.loss(x1, x2), expected, rtol=0, atol=1e-6)


def test_moco_loss_is_info_nce_against_the_queue_before_enqueueing():
    for symmetric in (False, True):
        method = _make(MoCo, queue_size=16, temperature=0.2, symmetric=symmetric).eval()  # eval: no enqueue
        x1, x2 = _views()
        queue = method.queue.clone()
        q1, q2, k1, k2 = method.project(x1), method.project(x2), method.keys(x1), method.keys(x2)
        expected = losses.info_nce(q1, k2, queue, temperature=0.2)
        if symmetric:
            expected = 0.5 * (expected + losses.info_nce(q2, k1, queue, temperature=0.2))
        assert torch.allclose(method.loss(x1, x2), expected, rtol=0, atol=1e-6)
        assert torch.equal(method.queue, queue)


# ---------------------------------------------------------------- MoCo's queue


def test_moco_queue_starts_normalised_random_and_is_a_checkpointed_buffer():
    method = _make(MoCo, queue_size=32)
    assert method.queue.shape == (32, 8)
    assert torch.allclose(method.queue.norm(dim=1), torch.ones(32), atol=1e-6)
    assert method.queue.std() > 0.1  # random, not constant
    state = method.state_dict()
    assert "queue" in state and "queue_ptr" in state and int(state["queue_ptr"]) == 0


def _unit(n, seed):
    return F.normalize(torch.randn(n, 8, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_moco_enqueue_known_steps_with_wrap_around_and_partial_batches():
    method = _make(MoCo, queue_size=5)
    initial = method.queue.clone()
    a, b, c, d = _unit(2, 1), _unit(2, 2), _unit(2, 3), _unit(1, 4)

    def queue_is(*rows):
        return torch.allclose(method.queue, torch.stack(rows), rtol=0, atol=1e-6)

    method.enqueue(a)  # slots 0, 1
    method.enqueue(b)  # slots 2, 3
    assert queue_is(a[0], a[1], b[0], b[1], initial[4]) and int(method.queue_ptr) == 4
    method.enqueue(c)  # one slot left before the end: 4, then wrap around to 0
    assert queue_is(c[1], a[1], b[0], b[1], c[0]) and int(method.queue_ptr) == 1
    method.enqueue(d)  # a partial batch of one key
    assert queue_is(c[1], d[0], b[0], b[1], c[0]) and int(method.queue_ptr) == 2


def test_moco_enqueue_matches_a_ring_buffer_loop_for_any_batch_sizes():
    method = _make(MoCo, queue_size=7)
    oracle, pointer = [row.clone() for row in method.queue], 0
    for step, n in enumerate([3, 3, 1, 5, 7, 2, 9, 4]):  # 9 > K: only the newest 7 survive
        keys = _unit(n, 10 + step)
        method.enqueue(keys)
        for key in keys:  # one key at a time, the definition of a ring buffer
            oracle[pointer] = key
            pointer = (pointer + 1) % 7
        assert torch.allclose(method.queue, torch.stack(oracle), atol=1e-7), f"after step {step}"
        assert int(method.queue_ptr) == pointer


def test_moco_training_loss_enqueues_the_normalised_keys_of_the_second_view():
    method = _make(MoCo, queue_size=16)
    x1, x2 = _views(batch=4)
    method.train()
    keys = method.keys(torch.cat([x1, x2]))[4:]  # the same BatchNorm batch as inside loss
    method.loss(x1, x2)
    assert torch.allclose(method.queue[:4], keys, atol=1e-6)
    assert int(method.queue_ptr) == 4


def test_moco_momentum_update_and_no_gradient_to_the_key_network():
    method = _make(MoCo, queue_size=16, momentum=0.9).double()
    with torch.no_grad():
        for p in method.encoder.parameters():
            p.add_(torch.randn_like(p))
    method.loss(*[x.double() for x in _views()]).backward()
    assert all(p.grad is None for p in method.key_encoder.parameters())
    assert all(p.grad is not None for p in method.encoder.parameters())
    before = [p.clone() for p in method.key_encoder.parameters()]
    method.on_step_end(0.5)
    for k, k0, q in zip(method.key_encoder.parameters(), before, method.encoder.parameters(), strict=True):
        assert torch.allclose(k, 0.9 * k0 + 0.1 * q, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- BYOL's target


def test_byol_target_gets_no_gradient():
    method = _make(BYOL)
    method.loss(*_views()).backward()
    target = list(method.target_encoder.parameters()) + list(method.target_projector.parameters())
    assert all(not p.requires_grad and p.grad is None for p in target)
    online = [*method.encoder.parameters(), *method.projector.parameters(), *method.predictor.parameters()]
    assert all(p.grad is not None for p in online)


def test_byol_momentum_update_formula_exactly():
    method = _make(BYOL, base_momentum=0.9).double()
    with torch.no_grad():
        for p in [*method.encoder.parameters(), *method.projector.parameters()]:
            p.copy_(torch.randn_like(p))
    target_before = [
        p.clone() for p in [*method.target_encoder.parameters(), *method.target_projector.parameters()]
    ]
    online = [*method.encoder.parameters(), *method.projector.parameters()]
    progress = 0.3
    tau = target_momentum(progress, 0.9)
    assert tau == pytest.approx(1 - 0.1 * (math.cos(math.pi * 0.3) + 1) / 2)
    method.on_step_end(progress)
    target_after = [*method.target_encoder.parameters(), *method.target_projector.parameters()]
    for t, t0, o in zip(target_after, target_before, online, strict=True):
        assert torch.allclose(t, tau * t0 + (1 - tau) * o, rtol=0, atol=1e-12)


def test_byol_schedule_endpoints():
    assert target_momentum(0.0, 0.996) == pytest.approx(0.996, abs=1e-15)
    assert target_momentum(1.0, 0.996) == 1.0
    assert target_momentum(0.5, 0.99) == pytest.approx(0.995, abs=1e-15)
    method = _make(BYOL)
    before = [p.clone() for p in method.target_encoder.parameters()]
    with torch.no_grad():
        for p in method.encoder.parameters():
            p.add_(1.0)
    method.on_step_end(1.0)  # τ = 1: the target does not move at the end of training
    assert all(torch.equal(a, b) for a, b in zip(method.target_encoder.parameters(), before, strict=True))


def test_byol_at_progress_zero_with_zero_base_momentum_copies_the_online_network():
    method = _make(BYOL, base_momentum=0.0)
    with torch.no_grad():
        for p in method.encoder.parameters():
            p.add_(1.0)
    method.on_step_end(0.0)
    assert all(
        torch.equal(t, o)
        for t, o in zip(method.target_encoder.parameters(), method.encoder.parameters(), strict=True)
    )


# ---------------------------------------------------------------- learning, dtypes


@pytest.mark.parametrize("cls, kwargs", ALL, ids=[c.__name__ for c, _ in ALL])
def test_loss_decreases_over_a_few_steps_on_a_tiny_batch(cls, kwargs):
    # New images every step (MoCo's queue would otherwise fill up with the positives themselves).
    method = _make(cls, **kwargs)
    labels = torch.arange(16) % 4
    optimizer = torch.optim.Adam([p for p in method.parameters() if p.requires_grad], lr=1e-2)
    history = []
    for step in range(30):
        loss = method.loss(*_views(batch=16, seed=step), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        method.on_step_end((step + 1) / 30)
        history.append(loss.item())
    assert all(math.isfinite(v) for v in history)
    assert sum(history[-5:]) / 5 < 0.95 * sum(history[:5]) / 5, history


@pytest.mark.parametrize("cls, kwargs", ALL, ids=[c.__name__ for c, _ in ALL])
def test_bfloat16_autocast_gives_a_finite_loss(cls, kwargs):
    method = _make(cls, **kwargs)
    x1, x2 = _views()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = method.loss(x1, x2, torch.arange(8) % 3)
    assert loss.dim() == 0 and loss.dtype == torch.float32 and torch.isfinite(loss)
    loss.backward()


def test_under_autocast_the_loss_itself_is_computed_in_float32():
    # The network runs in bfloat16, but the logits s/τ must not: at τ = 0.1 bfloat16 keeps 2-3 digits.
    method = _make(SimCLR, temperature=0.1)
    x1, x2 = _views()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z1, z2 = method.project_pair(x1, x2)
        loss = method.loss(x1, x2)
        in_bfloat16 = losses.nt_xent(z1, z2, temperature=0.1)  # what a loss inside autocast computes
    assert z1.dtype == torch.bfloat16
    exact = losses.nt_xent(z1.float(), z2.float(), temperature=0.1)
    assert torch.allclose(loss, exact, rtol=0, atol=1e-5)
    assert not torch.allclose(in_bfloat16.float(), exact, rtol=0, atol=1e-5)  # so the check above can fail


# ---------------------------------------------------------------- building and bad inputs


@pytest.mark.parametrize("name", list(METHODS))
def test_build_method_records_its_recipe(name):
    method = build_method(name, encoder="convnet", in_channels=1, width=8)
    assert isinstance(method, METHODS[name])
    assert method.spec["name"] == name and method.spec["width"] == 8
    rebuilt = build_method(
        **{"name": method.spec["name"], **{k: v for k, v in method.spec.items() if k != "name"}}
    )
    rebuilt.load_state_dict(method.state_dict())
    x = torch.rand(4, 1, 8, 8)
    method.eval(), rebuilt.eval()
    assert torch.equal(method.embed(x), rebuilt.embed(x))


def test_build_method_records_last_stride_only_when_given():
    # Checkpoints from before the option existed have no such key: their recipe must still compare equal.
    assert "last_stride" not in build_method("simclr", in_channels=1, width=8).spec
    method = build_method("simclr", in_channels=1, width=8, last_stride=2)
    assert method.spec["last_stride"] == 2 and method.encoder.features[3][0].stride == (2, 2)


def test_build_method_rejects_unknown_names():
    with pytest.raises(ValueError, match=r"'name' parameter of build_method must be one of 'simclr'"):
        build_method("simsiam")
    with pytest.raises(ValueError, match="'encoder'"):
        build_method("simclr", encoder="resnet18", width=8)


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match=r"'temperature' parameter of SimCLR must be > 0\. Got 0\.0"):
        _make(SimCLR, temperature=0.0)
    with pytest.raises(ValueError, match=r"'momentum' parameter of MoCo must be in \[0, 1\)"):
        _make(MoCo, momentum=1.0)
    with pytest.raises(TypeError, match="'queue_size'"):
        _make(MoCo, queue_size=4.5)
    with pytest.raises(ValueError, match="'base_momentum'"):
        _make(BYOL, base_momentum=1.5)
    with pytest.raises(ValueError, match="feature_dim"):
        SimCLR(nn.Linear(4, 4))
    with pytest.raises(TypeError, match="'encoder'"):
        SimCLR("resnet18")
    method = _make(SimCLR)
    x1, x2 = _views()
    with pytest.raises(ValueError, match=r"'x2' parameter of SimCLR\.loss must be the same shape"):
        method.loss(x1, x2[:4])
    with pytest.raises(ValueError, match="at least 2 samples"):
        method.loss(x1[:1], x2[:1])
    with pytest.raises(TypeError, match="'x1'"):
        method.loss(x1.numpy(), x2)
    with pytest.raises(ValueError, match=r"'progress' parameter of .* must be in \[0, 1\]"):
        _make(BYOL).on_step_end(1.5)


def test_momentum_networks_are_independent_copies():
    method = _make(BYOL)
    assert method.target_encoder is not method.encoder
    copied = copy.deepcopy(method)
    assert torch.equal(next(copied.target_encoder.parameters()), next(method.encoder.parameters()))


# ---------------------------------------------------------------- SimCLR's debiased / hard negatives


@pytest.mark.parametrize("tau_plus, beta", [(0.1, 0.0), (0.1, 1.0), (0.0, 2.0)])
def test_simclr_with_tau_plus_or_beta_is_the_debiased_or_hard_loss_of_the_projections(tau_plus, beta):
    method = _make(SimCLR, temperature=0.3, tau_plus=tau_plus, beta=beta)
    x1, x2 = _views()
    z1, z2 = method.project_pair(x1, x2)
    expected = losses.hard_nt_xent(z1, z2, temperature=0.3, tau_plus=tau_plus, beta=beta)
    if beta == 0:
        expected = losses.debiased_nt_xent(z1, z2, temperature=0.3, tau_plus=tau_plus)
    assert torch.allclose(method.loss(x1, x2), expected, rtol=0, atol=1e-6)
    assert not torch.allclose(expected, losses.nt_xent(z1, z2, temperature=0.3), rtol=0, atol=1e-3)
    assert f"tau_plus={tau_plus}, beta={beta}" in repr(method)


def test_simclr_hard_negatives_learn_and_stay_finite_under_bfloat16_autocast():
    method = _make(SimCLR, temperature=0.2, tau_plus=0.1, beta=1.0)
    optimizer = torch.optim.Adam(method.parameters(), lr=1e-2)
    history = []
    for step in range(30):
        loss = method.loss(*_views(batch=16, seed=step))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert all(math.isfinite(v) for v in history)
    assert sum(history[-5:]) / 5 < 0.95 * sum(history[:5]) / 5, history
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = method.loss(*_views())
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_build_method_records_tau_plus_and_beta_for_checkpoints():
    method = build_method("simclr", in_channels=1, width=8, tau_plus=0.05, beta=0.5)
    assert method.spec["tau_plus"] == 0.05 and method.spec["beta"] == 0.5
    rebuilt = build_method(**method.spec)
    rebuilt.load_state_dict(method.state_dict())
    x1, x2 = torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8)
    method.eval(), rebuilt.eval()
    assert rebuilt.tau_plus == 0.05 and rebuilt.beta == 0.5
    assert torch.equal(method.loss(x1, x2), rebuilt.loss(x1, x2))
    assert "tau_plus" not in build_method("simclr", in_channels=1, width=8).spec  # old recipes unchanged


def test_simclr_bad_tau_plus_and_beta():
    with pytest.raises(ValueError, match=r"'tau_plus' parameter of SimCLR must be in \[0, 1\).*Got 1\.0"):
        _make(SimCLR, tau_plus=1.0)
    with pytest.raises(ValueError, match=r"'tau_plus' parameter of SimCLR must be >= 0\. Got -0\.1"):
        _make(SimCLR, tau_plus=-0.1)
    with pytest.raises(ValueError, match=r"'beta' parameter of SimCLR must be >= 0\. Got -1\.0"):
        _make(SimCLR, beta=-1.0)
    with pytest.raises(TypeError, match=r"'beta' parameter of SimCLR"):
        _make(SimCLR, beta="1")

"""budget + notebook_setup on a forced GPU: auto never plans past BUDGET_MINUTES without saying so.

No GPU is needed: ``torch.cuda`` is mocked to report a device of the given name, and ``default_device``
is only asked for its type (nothing is allocated on it).
"""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

from edu_contrast import budget, utils
from edu_contrast.budget import FULL_MODE_COSTS, GPU_TFLOPS, plan_full_mode

ROOT = Path(__file__).resolve().parents[1]
LONG, SHORT = "09_simclr_cifar10", "01_infonce"  # 79 PFLOP vs a tiny critic


@pytest.fixture
def gpu(monkeypatch):
    """Force a CUDA device named by the test (``gpu("Tesla T4")``); quick-mode and mode overrides unset."""
    monkeypatch.delenv(utils.QUICK_ENV, raising=False)
    monkeypatch.delenv(utils.MODE_ENV, raising=False)
    monkeypatch.delenv(utils.SEED_ENV, raising=False)
    monkeypatch.setattr(utils, "seed_everything", lambda seed: None)  # no CUDA seeding on a mocked device

    def force(name: str):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: _Properties(name))

    return force


class _Properties:
    def __init__(self, name):
        self.name, self.major, self.minor, self.total_memory = name, 7, 5, 15 * 2**30  # a T4's


def _setup(capsys, mode, notebook, budget_minutes=30):
    setup = utils.notebook_setup(mode, budget_minutes=budget_minutes, notebook=notebook)
    return setup, capsys.readouterr().out.splitlines()


def test_the_cost_table_covers_every_notebook():
    stems = {p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert set(FULL_MODE_COSTS) == stems
    assert all(pflop > 0 and steps > 0 for pflop, steps in FULL_MODE_COSTS.values())


def _costs_tool():
    spec = importlib.util.spec_from_file_location("full_mode_costs", ROOT / "tools" / "full_mode_costs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_the_table_is_the_tools_output():
    """Steps of every notebook (cheap: no FLOPs counted) and the FLOPs of two small ones: rerun the tool
    after changing a full mode's sizes."""
    runs = _costs_tool().notebook_runs()
    assert set(runs) == set(FULL_MODE_COSTS)
    for stem, notebook_runs in runs.items():
        assert sum(r.steps * r.count for r in notebook_runs) == FULL_MODE_COSTS[stem][1], stem
    for stem in ("01_infonce", "10_serving"):
        flops = sum(3 * r.step_flops() * r.steps * r.count for r in runs[stem])
        assert round(flops / 1e15, 4) == FULL_MODE_COSTS[stem][0], stem


def test_gpu_names_map_to_their_row_and_unknown_ones_to_the_slower_fallback():
    assert budget.gpu_tflops("Tesla T4") == (GPU_TFLOPS["T4"], "T4")
    assert budget.gpu_tflops("NVIDIA A100-SXM4-40GB")[1] == "A100"
    assert budget.gpu_tflops("NVIDIA H100 80GB HBM3")[1] == "H100"
    assert budget.gpu_tflops("NVIDIA A10G")[1] != "A100"  # a word match, not a prefix
    assert budget.gpu_tflops("Quadro RTX 5000")[0] == budget.FALLBACK_TFLOPS < min(GPU_TFLOPS.values())


def test_projection_is_the_cost_model_and_faster_cards_project_shorter():
    pflop, steps = FULL_MODE_COSTS[LONG]
    t4 = plan_full_mode(LONG, "Tesla T4")
    assert t4.seconds == pytest.approx(pflop * 1e15 / (GPU_TFLOPS["T4"] * 1e12) + steps * budget.STEP_SECONDS)
    assert plan_full_mode(LONG, "NVIDIA H100 PCIe").seconds < plan_full_mode(LONG, "NVIDIA A100").seconds
    assert (
        plan_full_mode(LONG, "NVIDIA A100").seconds < t4.seconds < plan_full_mode(LONG, "Mystery GPU").seconds
    )


def test_auto_on_a_t4_picks_lab_for_a_long_notebook_and_says_why(gpu, capsys):
    gpu("Tesla T4")
    setup, lines = _setup(capsys, "auto", LONG)
    assert setup.mode == "lab" and setup.device.type == "cuda"
    assert any(line.startswith("plan: full mode of 09_simclr_cifar10") for line in lines), lines
    (why,) = [line for line in lines if line.startswith("auto picked lab")]
    assert "on a Tesla T4 (estimate) > BUDGET_MINUTES = 30" in why and 'MODE = "full"' in why
    assert budget.format_duration(plan_full_mode(LONG, "Tesla T4").seconds) in why


def test_auto_on_a_t4_picks_full_for_a_short_notebook(gpu, capsys):
    gpu("Tesla T4")
    setup, lines = _setup(capsys, "auto", SHORT)
    assert setup.mode == "full"
    assert any("≤ BUDGET_MINUTES = 30" in line for line in lines), lines


def test_a_large_budget_allows_full(gpu, capsys):
    gpu("Tesla T4")
    hours = plan_full_mode(LONG, "Tesla T4").seconds / 3600
    setup, _ = _setup(capsys, "auto", LONG, budget_minutes=int(60 * hours) + 1)
    assert setup.mode == "full"


def test_auto_never_plans_past_the_budget_without_saying_so(gpu, capsys):
    """Every notebook, every budget: a full plan over the budget always comes with a warning line."""
    for name in ("Tesla T4", "Unknown GPU"):
        gpu(name)
        for stem in FULL_MODE_COSTS:
            for minutes in (1, 30, 600):
                setup, lines = _setup(capsys, "auto", stem, minutes)
                fits = plan_full_mode(stem, name, minutes).fits
                assert setup.mode == ("full" if fits else "lab")
                assert lines[1].startswith("plan: ") and (fits or lines[2].startswith("auto picked lab"))


def test_explicit_full_over_the_budget_runs_full_and_warns_before_training(gpu, capsys):
    gpu("Tesla T4")
    setup, lines = _setup(capsys, "full", LONG)
    assert setup.mode == "full"
    (warning,) = [line for line in lines if line.startswith("WARNING")]
    assert "on a Tesla T4 (estimate) > BUDGET_MINUTES = 30" in warning


def test_an_unknown_gpu_uses_the_fallback_throughput(gpu, capsys):
    gpu("Mystery GPU 9000")
    _, lines = _setup(capsys, "auto", LONG)
    assert f"{budget.FALLBACK_TFLOPS:g} TFLOP/s (unknown GPU: fallback" in lines[1]


def test_on_a_cpu_nothing_changes(monkeypatch, capsys):
    monkeypatch.delenv(utils.QUICK_ENV, raising=False)
    monkeypatch.delenv(utils.MODE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    setup, lines = _setup(capsys, "auto", LONG)
    assert setup.mode == "lab" and len(lines) == 1 and "plan" not in lines[0]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"budget_minutes": 0},
            ValueError,
            "'BUDGET_MINUTES' parameter of notebook_setup must be an int >= 1",
        ),
        ({"budget_minutes": "30"}, TypeError, "BUDGET_MINUTES"),
        ({"notebook": "09_simclr"}, ValueError, "'notebook' parameter of notebook_setup must be one of"),
    ],
)
def test_bad_budget_or_notebook_names_the_field(kwargs, error, match):
    with pytest.raises(error, match=match):
        utils.notebook_setup("lab", **kwargs)

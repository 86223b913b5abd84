"""utils: one_thread restores the thread count; notebook_setup resolves the mode and the seed."""

import pytest
import torch

from edu_contrast.utils import one_thread


def test_one_thread_restores_the_thread_count_even_after_an_error():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with one_thread():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with pytest.raises(RuntimeError, match="inside"), one_thread():
            raise RuntimeError("inside")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_mode_resolves_auto_by_device_and_environment_overrides_the_form_field(monkeypatch):
    from edu_contrast.utils import resolve_mode

    monkeypatch.delenv("EDU_CONTRAST_QUICK", raising=False)
    monkeypatch.delenv("EDU_CONTRAST_MODE", raising=False)
    assert resolve_mode("auto", torch.device("cpu")) == "lab"
    assert resolve_mode("auto", torch.device("cuda")) == "full"
    assert resolve_mode("quick", torch.device("cuda")) == "quick"
    monkeypatch.setenv("EDU_CONTRAST_MODE", "full")
    assert resolve_mode("lab", torch.device("cpu")) == "full"
    monkeypatch.setenv("EDU_CONTRAST_QUICK", "1")  # the tests' switch wins over everything
    assert resolve_mode("full", torch.device("cuda")) == "quick"


def test_notebook_setup_reads_the_seed_and_names_a_wrong_mode(monkeypatch, capsys):
    from edu_contrast.utils import notebook_setup

    monkeypatch.delenv("EDU_CONTRAST_QUICK", raising=False)
    monkeypatch.delenv("EDU_CONTRAST_MODE", raising=False)
    monkeypatch.setenv("EDU_CONTRAST_SEED", "2")
    setup = notebook_setup("lab")
    assert (setup.mode, setup.seed, setup.quick) == ("lab", 2, False)
    assert setup.pick(quick=1, lab=5, full=50) == 5
    assert "MODE=lab | seed=2" in capsys.readouterr().out
    assert torch.initial_seed() == 2
    with pytest.raises(ValueError, match="The 'MODE' parameter of notebook_setup must be one of"):
        notebook_setup("fast")
    monkeypatch.setenv("EDU_CONTRAST_SEED", "one")
    with pytest.raises(ValueError, match="EDU_CONTRAST_SEED"):
        notebook_setup("lab")

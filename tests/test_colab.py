"""colab: GPU detection with the how-to message, checkpoint folder on Drive or local, Drive mounting."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from edu_contrast import colab


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_check_gpu_quick_mode_without_gpu_says_how_and_returns_cpu(no_gpu, capsys):
    assert colab.check_gpu(required=False) == torch.device("cpu")
    out = capsys.readouterr().out
    assert "No GPU found" in out and "Runtime → Change runtime type → T4 GPU" in out and "CPU" in out


def test_check_gpu_full_mode_without_gpu_refuses_with_the_way_out(no_gpu):
    with pytest.raises(colab.GPURequiredError) as info:
        colab.check_gpu(required=True)
    message = str(info.value)
    assert "Runtime → Change runtime type → T4 GPU" in message  # how to get a GPU
    assert "EDU_CONTRAST_QUICK=1" in message  # how to run on the CPU instead
    assert isinstance(info.value, RuntimeError)


def test_check_gpu_with_gpu_returns_cuda_and_names_it(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    props = types.SimpleNamespace(name="Tesla T4", total_memory=15 * 2**30)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda index: props)
    assert colab.check_gpu(required=True) == torch.device("cuda", 0)
    assert "Tesla T4, 15.0 GiB" in capsys.readouterr().out


def test_check_gpu_rejects_non_bool():
    with pytest.raises(TypeError, match="'required' parameter of check_gpu must be a bool"):
        colab.check_gpu(required="yes")


def test_checkpoint_dir_uses_drive_when_mounted(tmp_path, capsys):
    drive_home = tmp_path / "MyDrive"
    drive_home.mkdir()
    folder = colab.checkpoint_dir("simclr", local_root=tmp_path / "runs", drive_home=drive_home)
    assert folder == drive_home / "edu_contrast" / "simclr" and folder.is_dir()
    assert not (tmp_path / "runs").exists()
    assert "Google Drive" in capsys.readouterr().out


def test_checkpoint_dir_falls_back_to_local_and_is_stable(tmp_path, capsys):
    drive_home = tmp_path / "not_mounted"
    first = colab.checkpoint_dir("run", local_root=tmp_path / "runs", drive_home=drive_home)
    again = colab.checkpoint_dir("run", local_root=tmp_path / "runs", drive_home=drive_home)
    assert first == again == tmp_path / "runs" / "run" and first.is_dir()  # same folder: resume finds it
    assert "local disk" in capsys.readouterr().out
    assert not drive_home.exists()


@pytest.mark.parametrize("name", ["", "..", "a/b", "../up", 3])
def test_checkpoint_dir_rejects_paths_as_names(tmp_path, name):
    with pytest.raises(ValueError, match="'run_name' parameter of checkpoint_dir"):
        colab.checkpoint_dir(name, local_root=tmp_path)


def test_in_colab_and_mount_drive_outside_colab(monkeypatch, capsys):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    assert not colab.in_colab()
    assert colab.mount_drive() is False
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
    assert colab.in_colab()
    assert colab.mount_drive(tmp_path) is True
    assert calls == [str(tmp_path)]


def test_mount_drive_declined_is_not_fatal(monkeypatch, tmp_path, capsys):
    def mount(path):
        raise ValueError("mount failed")

    _fake_colab(monkeypatch, mount)
    assert colab.mount_drive(tmp_path) is False
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
        execute_notebook(path, quick=False)
    message = str(info.value)
    assert "GPURequiredError" in message and "Runtime → Change runtime type → T4 GPU" in message
    assert "colab.check_gpu(required=not QUICK)" in message  # the failing cell is the GPU check

"""Checkpoint files: checksums catch changed bytes, unreadable is not corrupt, missing entries are
named, files follow the umask, stale temporary files are removed, Ctrl-C never cuts a save in two."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from edu_contrast import data, train
from edu_contrast.methods import build_method
from edu_contrast.train import storage

ROOT = Path(__file__).resolve().parents[1]
TINY = {
    "batch_size": 64,
    "samples_per_epoch": 128,
    "lr": 1e-3,
    "progress": False,
    "knn_train_size": 200,
    "knn_test_size": 100,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished 1-epoch run (a width-16 ConvNet, so weight tensors span several KiB); read-only."""
    out = tmp_path_factory.mktemp("ckpt") / "run"
    torch.manual_seed(0)
    method = build_method("simclr", encoder="convnet", in_channels=1, width=16, feature_dim=64)
    train_data, test_data = data.load_dataset("digits", "train"), data.load_dataset("digits", "test")
    train.fit(
        method, train_data, epochs=1, eval_data=test_data, out_dir=out, config={"dataset": "digits"}, **TINY
    )
    return out


@pytest.fixture
def copy(run_dir, tmp_path):
    """A copy of the run's checkpoint.pt that a test may damage."""
    path = tmp_path / "checkpoint.pt"
    shutil.copyfile(run_dir / "checkpoint.pt", path)
    return path


def test_checkpoint_carries_a_checksum_of_its_contents(run_dir):
    state = train.load_checkpoint(run_dir)
    assert state["format"] == train.CHECKPOINT_FORMAT == 2
    assert set(state) == set(storage.CHECKPOINT_KEYS)
    assert state["checksum"] == train.checksum(state) and len(state["checksum"]) == 64
    changed = {**state, "model": {**state["model"]}}
    name = next(iter(changed["model"]))
    changed["model"][name] = changed["model"][name].clone()
    changed["model"][name].view(-1)[0] += 1e-6  # one number, slightly
    assert train.checksum(changed) != state["checksum"]
    assert train.checksum({**state, "epoch": 2}) != state["checksum"]  # plain values count too


def test_zeroed_weight_bytes_are_reported_as_damage(copy):
    state = torch.load(copy, weights_only=True)
    weight = max(state["model"].values(), key=lambda t: t.numel())  # the largest weight tensor
    raw = bytearray(copy.read_bytes())
    start = raw.find(weight.numpy().tobytes())
    assert start > 0 and weight.numel() * weight.element_size() >= 4096
    raw[start : start + 4096] = bytes(4096)  # 4 KiB of the weight's bytes, zeroed
    copy.write_bytes(raw)
    damaged = torch.load(copy, weights_only=True)  # torch itself loads it without a word ...
    assert not torch.equal(max(damaged["model"].values(), key=lambda t: t.numel()), weight)
    with pytest.raises(train.CorruptCheckpointError, match=r"damaged: its contents changed.*checksum"):
        train.load_checkpoint(copy)  # ... the checksum does not


def test_a_missing_entry_is_named(copy):
    state = torch.load(copy, weights_only=True)
    del state["config"]
    torch.save(state, copy)
    with pytest.raises(train.CorruptCheckpointError, match=r"damaged: it lacks 'config'"):
        train.load_checkpoint(copy)
    torch.save({"format": 2}, copy)
    with pytest.raises(train.CorruptCheckpointError, match=r"it lacks 'epoch', 'model', 'optimizer'"):
        train.load_checkpoint(copy)


def test_truncated_empty_foreign_and_newer_files(copy):
    copy.write_bytes(copy.read_bytes()[: copy.stat().st_size // 2])
    with pytest.raises(train.CorruptCheckpointError, match=r"truncated or corrupt.*overwrite=True"):
        train.load_checkpoint(copy)
    copy.write_bytes(b"")
    with pytest.raises(train.CorruptCheckpointError, match="truncated or corrupt"):
        train.load_checkpoint(copy.parent)  # the run directory works too
    torch.save({"w": torch.ones(2)}, copy)
    with pytest.raises(train.CorruptCheckpointError, match="not an edu_contrast training checkpoint"):
        train.load_checkpoint(copy)
    torch.save({"format": 3}, copy)
    with pytest.raises(train.CorruptCheckpointError, match="format 3, written by a newer edu_contrast"):
        train.load_checkpoint(copy)
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        train.load_checkpoint(copy.parent / "missing.pt")


def test_format_1_without_checksum_is_still_read(copy):
    state = torch.load(copy, weights_only=True)
    del state["checksum"]
    torch.save({**state, "format": 1}, copy)  # what edu_contrast wrote before checksums
    assert train.load_checkpoint(copy)["epoch"] == 1


LOAD_TWICE = """
import os, sys
from edu_contrast import train
for mode in (0, 0o644):  # unreadable, then readable again
    os.chmod(sys.argv[1], mode)
    try:
        print("loaded epoch", train.load_checkpoint(sys.argv[1])["epoch"])
    except Exception as e:
        print(type(e).__name__, e)
"""


def _load_twice_obeying_permissions(path: Path) -> list[str]:
    """Run ``LOAD_TWICE`` in a process that obeys file permissions (as root: without CAP_DAC_OVERRIDE)."""
    command = [sys.executable, "-c", LOAD_TWICE, str(path)]
    if os.geteuid() == 0:
        drop = "--bounding-set=-dac_override,-dac_read_search"
        command = ["setpriv", "--inh-caps=-all", drop, *command]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    return (proc.stdout + proc.stderr).splitlines()


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"), reason="root without setpriv")
def test_an_unreadable_checkpoint_is_not_called_corrupt(run_dir):
    folder = Path(tempfile.mkdtemp(prefix="edu_contrast_perm_"))
    try:
        folder.chmod(0o755)
        path = folder / "checkpoint.pt"
        shutil.copyfile(run_dir / "checkpoint.pt", path)
        unreadable, readable = _load_twice_obeying_permissions(path)
        assert unreadable.startswith("UnreadableCheckpointError"), unreadable
        assert "cannot be read (Permission denied)" in unreadable and "corrupt" not in unreadable
        assert readable == "loaded epoch 1"  # the same file, readable again
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        storage.save_checkpoint({"format": 2, "w": torch.ones(2)}, tmp_path / "checkpoint.pt")
        storage.write_metrics(tmp_path / "metrics.json", [{"epoch": 0, "loss": 1.0}], None)
    finally:
        os.umask(old)
    for name in ("checkpoint.pt", "metrics.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name


def test_stale_temporary_files_are_removed_by_the_next_save(tmp_path):
    stale = [tmp_path / ".checkpoint.pt.1a2b3c.tmp", tmp_path / ".metrics.json.ffff.tmp"]
    for path in stale:
        path.write_bytes(b"PK\x03\x04 half a zip file")  # what a kill during a save leaves
    other = tmp_path / ".notes.txt.tmp"
    other.write_text("not ours")
    storage.save_checkpoint({"format": 2, "w": torch.ones(2)}, tmp_path / "checkpoint.pt")
    assert not stale[0].exists() and stale[1].exists()  # each file cleans up after its own writes
    storage.write_metrics(tmp_path / "metrics.json", [], None)
    assert not stale[1].exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.txt.tmp", "checkpoint.pt", "metrics.json"]


def test_an_interrupted_write_leaves_the_previous_checkpoint_intact(copy, monkeypatch):
    before = copy.read_bytes()

    def dies_halfway(obj, f):
        f.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt  # the user pressed stop (or the machine died) during the write

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        storage.save_checkpoint({"format": 2, "model": {"w": torch.zeros(3)}, "epoch": 2}, copy)
    monkeypatch.undo()
    assert copy.read_bytes() == before and train.load_checkpoint(copy)["epoch"] == 1
    assert [p.name for p in copy.parent.iterdir()] == ["checkpoint.pt"]  # no temporary file left behind


def test_ctrl_c_during_a_save_waits_until_both_files_are_written(tmp_path):
    # Python's own Ctrl-C handler, even where the test runs as a background job (`cmd &` in a script
    # starts it with SIGINT ignored)
    outer = signal.signal(signal.SIGINT, signal.default_int_handler)
    written = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with storage.interrupts_deferred():
                signal.raise_signal(signal.SIGINT)  # Ctrl-C arrives between the two files
                written.append("checkpoint")
                written.append("metrics")
        assert written == ["checkpoint", "metrics"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is back
    finally:
        signal.signal(signal.SIGINT, outer)

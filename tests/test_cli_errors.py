"""Every user error of ``python -m edu_contrast`` (issue 12's list): one ``error:`` line that names the
flag and what to do, exit 2, no traceback; ``--debug`` shows the traceback; Ctrl-C exits 130 with
the command that continues the run.

Each case is a real ``python -m edu_contrast`` process; they start together (a few at a time) in a
module fixture, because starting Python and PyTorch takes most of each one's time.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import write_idx
from fast_train import FAST

from edu_contrast import cli, train

PROG = [sys.executable, "-m", "edu_contrast"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
OFFLINE = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9"}  # refused at once
OBEY_PERMISSIONS = ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search"]

# name: (argv after `train` or in full, extra environment, the flag named, what the line must say)
CASES = {
    "run_exists": (["--out", "{run}", *FAST], {}, "--out",
                   ["already holds a training run", "--resume", "--overwrite"]),
    "resume_changed": (["--out", "{run}", "--resume", "--lr", "0.01", *FAST], {}, "--resume",
                       ["--lr 0.002 in the checkpoint, 0.01 now", "--overwrite"]),
    "resume_tau_plus": (["--out", "{run}", "--resume", "--tau-plus", "0.1", *FAST], {}, "--resume",
                        ["--tau-plus 0.0 in the checkpoint, 0.1 now", "--overwrite"]),
    "tau_plus_1": (["--tau-plus", "1"], {}, "--tau-plus", ["expected a number >= 0 and < 1, got '1'"]),
    "beta_negative": (["--beta", "-0.5"], {}, "--beta", ["expected a number >= 0, got '-0.5'"]),
    "resume_fewer_epochs": (["--out", "{run}", "--resume", "--epochs", "0", *FAST], {}, "--epochs",
                            ["must be >= 1 to resume the run in", "got 0"]),
    "batch_5000": (["--batch-size", "5000", "--out", "{new}"], {}, "--batch-size",
                   ["must be <= the number of images used per epoch (1437 training images)"]),
    "batch_1": (["--batch-size", "1"], {}, "--batch-size", ["expected an integer >= 2, got '1'"]),
    "samples_100": (["--samples-per-epoch", "100", "--out", "{new}"], {}, "--batch-size",
                    ["(--samples-per-epoch 100): lower --batch-size or raise --samples-per-epoch, got 256"]),
    "warmup_nan": (["--warmup-epochs", "nan"], {}, "--warmup-epochs", ["expected a number >= 0, got 'nan'"]),
    "fp16_cpu": (["--amp", "fp16", "--device", "cpu", "--out", "{new}"], {}, "--amp",
                 ["must be 'bf16', 'auto' or 'off' on the CPU (float16 training needs CUDA), got 'fp16'"]),
    "out_is_a_file": (["--out", "{file}", *FAST], {}, "--out", ["must be a folder, got", "which is a file"]),
    "out_unwritable": (["--out", "{readonly}/run", *FAST], {}, "--out",
                       ["must be a folder this program can write to", "(Permission denied)"]),
    "fashion_missing": (["--dataset", "fashion-mnist", "--data-root", "{empty}", "--no-download", *FAST], {},
                        "--data-root", ["Fashion-MNIST not found in", "or pass --download to download them"]),
    "fashion_corrupt": (["--dataset", "fashion-mnist", "--data-root", "{broken}", *FAST], {}, "--data-root",
                        ["it is empty (0 bytes); delete it and re-run with --download"]),
    "fashion_offline": (["--dataset", "fashion-mnist", "--data-root", "{offline}", *FAST], OFFLINE,
                        "--data-root", ["could not download Fashion-MNIST into", "copy the four files"]),
    "data_env_empty": (["--dataset", "fashion-mnist", *FAST], {"EDU_CONTRAST_DATA": ""}, "--dataset",
                       ["EDU_CONTRAST_DATA is set but empty"]),
    "diverging_lr": (["--lr", "1e6", "--epochs", "2", "--out", "{new}", *FAST], {}, "--lr",
                     ["Training diverged in epoch", "(--lr 1e+06; try --lr 100000)", "--overwrite"]),
    "evaluate_damaged": (["evaluate", "{damaged}"], {}, "run", ["damaged: it lacks 'config'"]),
}  # fmt: skip
if not torch.cuda.is_available():
    CASES["no_cuda"] = (["--device", "cuda", "--out", "{new}"], {}, "--device",
                        ["must be 'cpu' on this machine (PyTorch finds no CUDA GPU)"])  # fmt: skip


def _folders(root: Path) -> dict[str, str]:
    """The files and folders the cases point at (``{run}``, ``{empty}``, ...)."""
    run = root / "run"
    assert cli.main(["train", "--epochs", "1", "--out", str(run), *FAST]) == 0  # a finished CLI run
    damaged = root / "damaged"
    shutil.copytree(run, damaged)
    state = torch.load(damaged / "checkpoint.pt", weights_only=True)
    del state["config"]
    torch.save(state, damaged / "checkpoint.pt")
    (root / "file.txt").write_text("not a folder")
    readonly = root / "readonly"
    readonly.mkdir(mode=0o555)
    readonly.chmod(0o555)
    for name in ("empty", "offline"):
        (root / name).mkdir()
    broken = root / "broken"  # a zero-byte images file beside valid labels
    write_idx(broken / "train-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    (broken / "train-images-idx3-ubyte.gz").write_bytes(b"")
    paths = {
        "run": run,
        "damaged": damaged,
        "file": root / "file.txt",
        "readonly": readonly,
        "broken": broken,
    }
    paths |= {name: root / name for name in ("empty", "offline", "new")}
    return {key: str(value) for key, value in paths.items()}


def _command(name: str, argv: list[str], folders: dict[str, str]) -> list[str]:
    argv = [a.format(**folders) for a in argv]
    command = [*PROG, *(argv if argv[0] == "evaluate" else ["train", *argv])]
    return [*OBEY_PERMISSIONS, *command] if name == "out_unwritable" and os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def results():
    """``{case: CompletedProcess}``, run a few at a time in a folder every user may read."""
    root = Path(tempfile.mkdtemp(prefix="edu_contrast_cli_errors_"))
    root.chmod(0o755)
    try:
        folders = _folders(root)

        def run(name):
            argv, env, _, _ = CASES[name]
            command = _command(name, argv, folders)
            return subprocess.run(
                command, capture_output=True, text=True, cwd=root, env={**ENV, **env}, timeout=600
            )

        with ThreadPoolExecutor(max_workers=3) as pool:
            done = dict(zip(CASES, pool.map(run, CASES)))
        yield done, root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() == 0 and not shutil.which("setpriv"), reason="root without setpriv")
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_user_error_is_one_line_naming_the_flag(results, name):
    proc = results[0][name]
    _, _, flag, phrases = CASES[name]
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    command = "evaluate" if name.startswith("evaluate") else "train"
    assert errors[0].startswith(f"python -m edu_contrast {command}: error: argument {flag}: "), errors[0]
    for phrase in phrases:
        assert phrase in errors[0]
    for api_word in ("download=True", "resume=True", "overwrite=True", "out_dir", "nt_xent", "apt-get"):
        assert api_word not in errors[0]  # the command line's words, and only fixes that apply


def test_no_half_download_and_nothing_written_by_a_refused_run(results):
    done, root = results
    assert done["fashion_offline"].returncode == 2
    assert list((root / "offline").iterdir()) == []  # no empty FashionMNIST/raw/ left behind
    assert not (root / "readonly" / "run").exists()
    assert sorted(p.name for p in (root / "run").iterdir()) == ["checkpoint.pt", "metrics.json"]


def test_debug_shows_the_traceback(results):
    _, root = results
    proc = subprocess.run(
        [*PROG, "evaluate", str(root / "damaged"), "--debug"],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert proc.returncode == 1 and "Traceback" in proc.stderr and "CorruptCheckpointError" in proc.stderr


def test_ctrl_c_saves_nothing_half_written_and_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--epochs", "50", "--out", str(out), "--batch-size", "128", "--width", "4",
            "--no-progress", "--device", "cpu"]  # fmt: skip
    # Ctrl-C's default action in the child even where this test runs as a background job (`cmd &` in a
    # script starts it with SIGINT ignored, and a child inherits that)
    proc = subprocess.Popen(
        [*PROG, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while not (out / "metrics.json").exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(0.5)  # into the next epochs, maybe into a save
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert (
        "interrupted;" in stderr
        and f"Continue with: python -m edu_contrast {' '.join(argv)} --resume" in stderr
    )
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json"]  # no temporary file
    state = train.load_checkpoint(out)  # complete, and its checksum matches
    assert f"holds epoch {state['epoch']}, complete" in stderr

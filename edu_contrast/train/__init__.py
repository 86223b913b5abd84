"""Training: ``fit`` a method on in-memory images, checkpoint every epoch, resume exactly.

Read in this order:

- ``fit.py``: the loop (prepare → resume → for epoch, for batch: views, loss, step → record → save →
  linear probe), the learning-rate schedule ``warmup_cosine``, ``two_views`` and ``train_step``.
- ``config.py``: ``FitConfig``, every setting of a run, checked in one place.
- ``defaults.py``: the per-dataset defaults (encoder, batch, lr, views) the CLI runs:
  ``dataset_defaults("fashion-mnist")`` gives ``fit`` and ``build_method`` the CLI's run.
- ``monitor.py``: the per-epoch history entry (``measure.embedding_report``) and the printed lines.
- ``run_folder.py``: what ``out_dir`` means before anything is written (a new run, ``resume``,
  ``overwrite``); a folder holding a run is never replaced silently.
- ``checkpoint.py``: what a checkpoint holds, random-generator states, ``restore`` (exact resume,
  or a re-planned schedule when ``epochs`` changed).
- ``storage.py``: atomic writes, checksummed checkpoints, ``metrics.json``.
- ``errors.py``: ``RunExistsError``, ``ResumeMismatchError``, ``CorruptCheckpointError``,
  ``UnreadableCheckpointError``, ``TrainingDivergedError``.
- ``evaluate.py``: the linear and kNN probes of a trained encoder, ``evaluate`` of a checkpoint.
- ``precision.py``: which autocast dtype (bfloat16, float16 or none) on which device.
"""

from edu_contrast.train.config import FitConfig
from edu_contrast.train.defaults import dataset_defaults
from edu_contrast.train.errors import (
    CorruptCheckpointError,
    ResumeMismatchError,
    RunExistsError,
    TrainingDivergedError,
    UnreadableCheckpointError,
)
from edu_contrast.train.evaluate import evaluate
from edu_contrast.train.fit import fit, train_step, two_views, warmup_cosine
from edu_contrast.train.precision import autocast_dtype, check_device, cpu_has_fast_bfloat16
from edu_contrast.train.run_folder import PREVIOUS
from edu_contrast.train.storage import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    METRICS_NAME,
    checksum,
    load_checkpoint,
    save_checkpoint,
)

__all__ = [
    "fit",
    "FitConfig",
    "dataset_defaults",
    "evaluate",
    "save_checkpoint",
    "load_checkpoint",
    "checksum",
    "RunExistsError",
    "ResumeMismatchError",
    "CorruptCheckpointError",
    "UnreadableCheckpointError",
    "TrainingDivergedError",
    "check_device",
    "PREVIOUS",
    "warmup_cosine",
    "two_views",
    "train_step",
    "autocast_dtype",
    "cpu_has_fast_bfloat16",
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "CHECKPOINT_FORMAT",
]

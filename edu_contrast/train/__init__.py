"""Training: ``fit`` a method on in-memory images, checkpoint every epoch, resume exactly.

Read in this order:

- ``fit.py``: the loop (prepare → resume → for epoch, for batch: views, loss, step → record → save →
  linear probe), the learning-rate schedule ``warmup_cosine``, ``two_views`` and ``train_step``.
- ``config.py``: ``FitConfig``, every setting of a run, checked in one place.
- ``monitor.py``: the per-epoch history entry (``measure.embedding_report``) and the printed lines.
- ``checkpoint.py``: atomic writes, random-generator states, ``resume``, ``metrics.json``.
- ``evaluate.py``: the linear and kNN probes of a trained encoder, ``evaluate`` of a checkpoint.
- ``precision.py``: which autocast dtype (bfloat16, float16 or none) on which device.
"""

from edu_contrast.train.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_NAME,
    METRICS_NAME,
    CorruptCheckpointError,
    ResumeMismatchError,
    load_checkpoint,
    save_checkpoint,
)
from edu_contrast.train.config import FitConfig
from edu_contrast.train.evaluate import evaluate
from edu_contrast.train.fit import fit, train_step, two_views, warmup_cosine
from edu_contrast.train.precision import autocast_dtype, cpu_has_fast_bfloat16

__all__ = [
    "fit",
    "FitConfig",
    "evaluate",
    "save_checkpoint",
    "load_checkpoint",
    "CorruptCheckpointError",
    "ResumeMismatchError",
    "warmup_cosine",
    "two_views",
    "train_step",
    "autocast_dtype",
    "cpu_has_fast_bfloat16",
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "CHECKPOINT_FORMAT",
]

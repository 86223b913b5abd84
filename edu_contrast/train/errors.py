"""What can go wrong with a run that is not a bug: each error says what happened and what to do.

Messages name the API's parameters (``resume=True``, ``lr=0.1``); the command line
(``edu_contrast.cli``) rewrites them into its flags (``--resume``, ``--lr 0.1``).
"""

from __future__ import annotations

__all__ = [
    "RunExistsError",
    "ResumeMismatchError",
    "CorruptCheckpointError",
    "UnreadableCheckpointError",
    "TrainingDivergedError",
]


class RunExistsError(FileExistsError):
    """``out_dir`` already holds a run, and neither ``resume`` nor ``overwrite`` says what to do with it."""


class ResumeMismatchError(ValueError):
    """``resume=True`` with settings that differ from the checkpoint's; ``differences`` lists them.

    Each difference is ``(key, value in the checkpoint, value now)``, nested keys joined by dots
    (``"augment.crop_scale"``, ``"method.temperature"``).
    """

    def __init__(self, message: str, differences: list[tuple[str, object, object]] | None = None):
        super().__init__(message)
        self.differences = list(differences or [])


class CorruptCheckpointError(RuntimeError):
    """The checkpoint file is damaged: truncated, changed bytes (its checksum), missing entries, or not
    an edu_contrast checkpoint at all."""


class UnreadableCheckpointError(OSError):
    """The checkpoint file exists but cannot be read (permissions, I/O error): not a sign of damage."""


class TrainingDivergedError(FloatingPointError):
    """The loss or the embeddings stopped being finite numbers: the learning rate is too high.

    ``parameter`` names the setting to change (``"lr"``), so that callers can point at it.
    """

    parameter = "lr"

"""Checkers for the notebooks' exercises: ``exercises.check_...(student_fn)``.

Each checker runs the student's function on small fixed inputs, compares it with the package's reference
implementation, prints a short success message and returns True when it matches; otherwise it raises
``ExerciseError`` whose message says what differs (e.g. "self-similarities are not masked: row 0 puts 31%
of its weight on itself"). One module per notebook topic; every ``check_*`` is re-exported here.
"""

from edu_contrast.exercises._core import ExerciseError

__all__ = ["ExerciseError"]
# Topic modules add themselves below, one line each:
from edu_contrast.exercises.alignment_uniformity import *  # noqa: F403
from edu_contrast.exercises.collapse import *  # noqa: F403
from edu_contrast.exercises.feature_suppression import *  # noqa: F403
from edu_contrast.exercises.generalized import *  # noqa: F403
from edu_contrast.exercises.infonce import *  # noqa: F403
from edu_contrast.exercises.methods import *  # noqa: F403
from edu_contrast.exercises.serving import *  # noqa: F403
from edu_contrast.exercises.simclr_cifar10 import *  # noqa: F403
from edu_contrast.exercises.supcon import *  # noqa: F403
from edu_contrast.exercises.temperature import *  # noqa: F403

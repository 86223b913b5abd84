"""Checkers for the notebooks' exercises: ``exercises.check_...(student_fn)``.

Each checker runs the student's function on small fixed inputs, compares it with the package's reference
implementation, prints a short success message and returns True when it matches; otherwise it raises
``ExerciseError`` whose message says what differs (e.g. "self-similarities are not masked: row 0 puts 31%
of its weight on itself"). One module per notebook topic; every ``check_*`` is re-exported here.

A checker registered with ``@exercise`` (``_registry``) also takes ``fallback=True``: it then returns the
function the notebook goes on with (the student's once it passes, the package's reference until then).
``hint(name)`` and ``show_solution(name)`` print help; ``write_solutions`` (``make solutions``) and
``grade_folder`` (``python -m edu_contrast grade DIR``) are the instructor's tools (docs/instructors.md).
"""

from edu_contrast.exercises._core import ExerciseError, verify_checker
from edu_contrast.exercises._grading import grade_folder, grade_notebook, grading_table
from edu_contrast.exercises._notebooks import exercise_cells, solution_notebook, write_solutions
from edu_contrast.exercises._registry import EXERCISES, exercise, hint, show_solution, solution_source

__all__ = [
    "ExerciseError",
    "EXERCISES",
    "exercise",
    "hint",
    "show_solution",
    "solution_source",
    "verify_checker",
    "exercise_cells",
    "solution_notebook",
    "write_solutions",
    "grade_folder",
    "grade_notebook",
    "grading_table",
]
# Topic modules add themselves below, one line each:
from edu_contrast.exercises.alignment_uniformity import *  # noqa: F403
from edu_contrast.exercises.augmentation import *  # noqa: F403
from edu_contrast.exercises.class_collapse import *  # noqa: F403
from edu_contrast.exercises.clip import *  # noqa: F403
from edu_contrast.exercises.collapse import *  # noqa: F403
from edu_contrast.exercises.feature_suppression import *  # noqa: F403
from edu_contrast.exercises.generalized import *  # noqa: F403
from edu_contrast.exercises.infonce import *  # noqa: F403
from edu_contrast.exercises.methods import *  # noqa: F403
from edu_contrast.exercises.negatives import *  # noqa: F403
from edu_contrast.exercises.projection_head import *  # noqa: F403
from edu_contrast.exercises.retrieval import *  # noqa: F403
from edu_contrast.exercises.serving import *  # noqa: F403
from edu_contrast.exercises.simclr_cifar10 import *  # noqa: F403
from edu_contrast.exercises.supcon import *  # noqa: F403
from edu_contrast.exercises.temperature import *  # noqa: F403

"""Course tooling that lessons import in one line: ``from course import check, panel, progress``.

- :func:`check` compares a learner's function with a reference (values and gradients);
  :func:`expect` checks properties where there is no single right answer (random masks).
- :func:`panel` turns a drawing function of some knobs into an ipywidgets panel.
- :mod:`course.gpu` runs the same code on torch tensors on the best device and times it.
- :func:`progress` is a tqdm progress bar for training loops.
- :mod:`course.lessons` builds student lessons from solutions (``python -m course``).
"""
from .check import CheckFailed, check, expect
from .progress import progress

__all__ = ["CheckFailed", "check", "expect", "panel", "progress"]


def __getattr__(name):
    if name == "panel":  # ipywidgets and matplotlib load only when a lesson asks for a panel
        from .widgets import panel

        return panel
    raise AttributeError(f"module 'course' has no attribute {name!r}")

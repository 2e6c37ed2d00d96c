"""Course tooling that lessons import in one line: ``from course import check, panel, progress``.

- :func:`check` compares a learner's function with a reference (values and gradients);
  :func:`expect` checks properties where there is no single right answer (random masks), with
  :func:`near` / :func:`at_least` / :func:`at_most` so a failure prints what was measured.
- :func:`claim` states a paper's result as inequalities on per-seed effects, technique vs baseline;
  ``python -m course claims`` re-runs it on other seeds and under a control where it must fail.
- :func:`panel` turns a drawing function of some knobs into an ipywidgets panel.
- :mod:`course.gpu` runs the same code on torch tensors on the best device and times it.
- :func:`progress` is a tqdm progress bar for training loops.
- :mod:`course.lessons` builds student lessons from solutions (``python -m course``).
"""
from .check import CheckFailed, at_least, at_most, check, expect, near
from .claim import ClaimNotShown, claim
from .progress import progress

__all__ = ["CheckFailed", "ClaimNotShown", "at_least", "at_most", "check", "claim", "expect", "near", "panel",
           "progress"]


def __getattr__(name):
    if name == "panel":  # ipywidgets and matplotlib load only when a lesson asks for a panel
        from .widgets import panel

        return panel
    raise AttributeError(f"module 'course' has no attribute {name!r}")

"""Every lesson's widget panels, driven headless: run the solution as a script, then move each control.

A panel passes when every control value we set redraws without an exception (strict mode) and
the figure actually changes.
"""
import os
import runpy
from pathlib import Path

import matplotlib
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*/*.py"))


def _pixels(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def _other_values(widget):
    """A couple of values different from the current one, as a user would pick them."""
    if hasattr(widget, "options") and widget.options:
        labels = [o[0] if isinstance(o, tuple) else o for o in widget.options]
        return [v for v in labels if v != widget.value][:2]
    if isinstance(widget.value, bool):
        return [not widget.value]
    lo, hi = widget.min, widget.max
    if type(widget).__name__.startswith("FloatLog"):
        lo, hi = widget.base ** lo, widget.base ** hi
    return [v for v in (lo + (hi - lo) * 0.8, lo + (hi - lo) * 0.2) if v != widget.value]


def _drive_panels(py, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    monkeypatch.setenv("MINILIB_STRICT_WIDGETS", "1")
    monkeypatch.chdir(py.parent)
    from course import widgets

    widgets.PANELS.clear()
    runpy.run_path(str(py), run_name="__lesson__")
    assert widgets.PANELS, f"{py.name} made no panel"
    for p in widgets.PANELS:
        assert p.error is None and p.draws == 1
        for name, control in p.controls.items():
            for value in _other_values(control):
                before, draws = _pixels(p.figure), p.draws
                p.set(**{name: value})
                assert p.draws == draws + 1, f"{py.name}: moving {name} did not redraw"
                assert not np.array_equal(before, _pixels(p.figure)), f"{py.name}: {name}={value!r} changed nothing"
    assert os.environ["MINILIB_STRICT_WIDGETS"] == "1"


def _lesson_case(py):
    """One test class per lesson: `pytest --dist loadscope` spreads classes over workers, not parameters."""

    class Lesson:
        @pytest.mark.no_cover  # runs a whole lesson; tracing it for coverage would triple its time
        def test_panels_redraw_when_controls_move(self, monkeypatch):
            _drive_panels(py, monkeypatch)

    Lesson.__name__ = Lesson.__qualname__ = f"TestLesson_{py.parent.name}_{py.stem}"
    return Lesson


for _py in SOLUTIONS:
    _case = _lesson_case(_py)
    globals()[_case.__name__] = _case

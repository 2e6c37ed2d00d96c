"""``panel``: an ipywidgets control panel around a function that draws a matplotlib figure.

    def draw(p=0.5, seed=0):
        fig, ax = plt.subplots()
        ...
        return fig

    panel(draw, p=FloatSlider(value=0.5, min=0, max=0.9, step=0.05))

The default figure is drawn at once. Displayed, the panel offers both the live widget and a
PNG of the default figure: JupyterLab shows the widget, static viewers (GitHub, nbviewer)
fall back to the picture, so the notebook reads well either way.
"""
import base64
import io
import os
import traceback

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

PANELS = []  # every panel made in this process, newest last: tests drive them headless


class Panel:
    """Controls + an output area that redraws ``draw(**values)`` whenever a control changes.

    ``figure`` is the last figure drawn, ``draws`` counts redraws and ``error`` holds the last
    exception a redraw raised (shown in the output). With ``strict=True`` (or the environment
    variable MINILIB_STRICT_WIDGETS=1, which the tests set) exceptions propagate instead.
    """

    def __init__(self, draw, controls, strict=None):
        self.draw, self.controls = draw, controls
        self.strict = os.environ.get("MINILIB_STRICT_WIDGETS") == "1" if strict is None else strict
        self.output = widgets.Output()
        self.box = widgets.VBox([widgets.HBox(list(controls.values())), self.output])
        self.figure, self.error, self.draws = None, None, 0
        for widget in controls.values():
            widget.observe(self._on_change, names="value")
        self._redraw()
        self._default_png = _png(self.figure) if self.figure is not None else None
        PANELS.append(self)

    @property
    def values(self):
        return {name: w.value for name, w in self.controls.items()}

    def set(self, **values):
        """Set controls by name, as a user moving them would (each change redraws)."""
        for name, value in values.items():
            if name not in self.controls:
                raise KeyError(f"panel has no control {name!r}; it has {sorted(self.controls)}")
            self.controls[name].value = value
        return self

    def _on_change(self, change):
        self._redraw()

    def _redraw(self):
        with self.output:
            self.output.clear_output(wait=True)
            try:
                fig = self.draw(**self.values)
            except Exception as e:  # shown to the learner; re-raised in strict mode (tests)
                self.error = e
                if self.strict:
                    raise
                traceback.print_exc()
                return
            self.error = None
            self.draws += 1
            self.figure = fig
            display(fig)
            plt.close(fig)  # shown once, here; the inline backend must not show it again

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        if self._default_png is not None:
            data["image/png"] = self._default_png
        data["text/plain"] = f"panel({', '.join(f'{k}={v!r}' for k, v in self.values.items())})"
        return bundle


def _png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def panel(draw, strict=None, **controls):
    """A :class:`Panel` for ``draw`` with the given ipywidgets controls (keyword name = argument name)."""
    for name, widget in controls.items():
        if not isinstance(widget, widgets.ValueWidget):
            raise TypeError(f"panel: control {name!r} must be an ipywidgets control (FloatSlider, Dropdown, ...), "
                            f"got {type(widget).__name__}")
        if not widget.description:
            widget.description = name
    return Panel(draw, controls, strict)

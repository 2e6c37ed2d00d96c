"""Progress bars for training loops: tqdm's widget in a notebook kernel, tqdm's text bar elsewhere.

A notebook's stored outputs must not depend on the machine or the environment (nbval compares them),
so in a kernel the bar is always shown, and what a notebook stores of it is one fixed line of text
(``training (500)``) beside the live widget, whose state nbval does not compare. Outside a
kernel (scripts, tests) the text bar goes to stderr, and ``TQDM_DISABLE=1`` switches it off.
"""
import os


def progress(iterable=None, desc=None, total=None, **kwargs):
    """``for step in progress(range(200), desc="training"): ...``"""
    if _in_kernel():
        return _notebook_bar(iterable, desc, total, **kwargs)
    from tqdm import tqdm

    disable = os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")
    return tqdm(iterable, desc=desc, total=total, leave=False, disable=disable, **kwargs)


def _in_kernel():
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _notebook_bar(iterable, desc, total, **kwargs):
    from IPython.display import display
    from tqdm.notebook import tqdm

    bar = tqdm(iterable, desc=desc, total=total, leave=False, display=False, **kwargs)
    count = f" ({bar.total:g})" if bar.total is not None else ""
    display(_FixedText(bar.container, f"{desc or 'progress'}{count}"))
    return bar


class _FixedText:
    """A widget displayed with a text form that does not change with speed or time."""

    def __init__(self, widget, text):
        self.widget, self.text = widget, text

    def _repr_mimebundle_(self, **kwargs):
        data = self.widget._repr_mimebundle_(**kwargs)
        data = dict(data[0] if isinstance(data, tuple) else data)
        data["text/plain"] = self.text
        return data

"""Progress bars for training loops (tqdm's notebook widget in Jupyter, text elsewhere)."""
import os


def progress(iterable=None, desc=None, total=None, **kwargs):
    """``for step in progress(range(200), desc="training"): ...``; TQDM_DISABLE=1 switches it off.

    The environment variable is read here because tqdm's notebook bar ignores it.
    """
    from tqdm.auto import tqdm

    disable = os.environ.get("TQDM_DISABLE", "").lower() in ("1", "true", "yes")
    return tqdm(iterable, desc=desc, total=total, leave=False, disable=disable, **kwargs)

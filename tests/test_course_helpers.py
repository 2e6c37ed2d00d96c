"""The helpers learners and lessons use: check, panel (headless), gpu comparison, progress."""
import os

import numpy as np
import pytest
from ipywidgets import Dropdown, FloatSlider

import minilib as ml
from course import CheckFailed, ClaimNotShown, at_least, at_most, check, claim, expect, gpu, near, panel, progress


def good_softmax(x, dim):
    e = (x - x.amax(dim, keepdim=True)).exp()
    return e / e.sum(dim, keepdim=True)


def test_check_passes_quietly_with_one_line(capsys):
    check("softmax", good_softmax, ml.nn.functional.softmax, (3, 4), 1)
    assert capsys.readouterr().out == "✓ softmax: output and gradients match the reference\n"


@pytest.mark.parametrize("wrong,pattern", [
    (lambda x, dim: x.exp().sum(dim), r"shape \(3,\), expected \(3, 4\)"),
    (lambda x, dim: x.exp() / x.exp().sum(dim), r"your code raised ValueError: div: shapes \(3, 4\) and \(3,\)"),
    (lambda x, dim: x.exp() / x.exp().sum(dim, keepdim=True) * 1.01, r"output differs(.|\n)*first at index \(0, 0\)"),
    (lambda x, dim: good_softmax(x.detach(), dim), "no gradient path"),
    (lambda x, dim: good_softmax(x, dim).double(), "dtype float64, expected float32"),
    (lambda x, dim: x.softmax(dim).data, "should be a minilib Tensor"),
])
def test_check_says_what_differs(wrong, pattern):
    with pytest.raises(CheckFailed, match=pattern):
        check("softmax", wrong, ml.nn.functional.softmax, (3, 4), 1, hint="subtract the max")


def test_check_reports_wrong_gradient_and_hint():
    class LeakyGrad(ml.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.relu()

        @staticmethod
        def backward(ctx, g):
            return g  # wrong: ignores where x < 0

    with pytest.raises(CheckFailed, match=r"gradient of input 0 differs(.|\n)*hint: mask"):
        check("relu", LeakyGrad.apply, ml.relu, (5, 5), hint="mask the gradient where x <= 0")


def test_check_explains_an_unfinished_exercise():
    def stub(x):
        raise NotImplementedError("Exercise `stub`: replace this line")

    with pytest.raises(CheckFailed, match="not written yet.*Exercise `stub`"):
        check("stub", stub, ml.relu, (2,))


def test_expect_lists_what_holds_and_names_what_does_not(capsys):
    expect("mask", lambda: {"values are 0 or 1": True, "about half kept": True})
    assert capsys.readouterr().out.strip() == "✓ mask: values are 0 or 1; about half kept"
    with pytest.raises(CheckFailed, match="(?s)expected about half kept, but it does not hold.*hint: use rand"):
        expect("mask", lambda: {"values are 0 or 1": True, "about half kept": False}, hint="use rand")


def test_expect_explains_an_unfinished_exercise_and_a_crash():
    def stub():
        raise NotImplementedError("Exercise `mask`: replace this line")

    with pytest.raises(CheckFailed, match="not written yet"):
        expect("mask", stub)
    with pytest.raises(CheckFailed, match="raised ZeroDivisionError"):
        expect("mask", lambda: {"x": 1 / 0})


def _pixels(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)  # the panel closes figures after showing them
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def _draw(scale=1.0, kind="sin"):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    x = np.linspace(0, 6, 50)
    ax.plot(x, scale * (np.sin(x) if kind == "sin" else np.cos(x)))
    ax.set_ylim(-3, 3)
    return fig


def test_panel_draws_default_and_redraws_on_change():
    p = panel(_draw, strict=True, scale=FloatSlider(value=1.0, min=0.5, max=2.0), kind=Dropdown(options=["sin", "cos"]))
    assert p.draws == 1 and p.figure is not None
    before = _pixels(p.figure)
    p.set(scale=2.0)
    assert p.draws == 2 and not np.array_equal(before, _pixels(p.figure))
    p.controls["kind"].value = "cos"
    assert p.draws == 3 and p.values == {"scale": 2.0, "kind": "cos"}
    bundle = p._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data and "image/png" in data
    assert data["text/plain"] == "panel(scale=2.0, kind='cos')"


def test_panel_errors_surface_in_strict_mode_and_are_kept_otherwise():
    def draw(x=0.0):
        if x > 0.5:
            raise ValueError("x too big")
        return _draw()

    strict = panel(draw, strict=True, x=FloatSlider(value=0.0))
    with pytest.raises(ValueError, match="x too big"):
        strict.set(x=0.9)
    lenient = panel(draw, strict=False, x=FloatSlider(value=0.0))
    lenient.set(x=0.9)
    assert isinstance(lenient.error, ValueError)
    with pytest.raises(TypeError, match="ipywidgets control"):
        panel(draw, x=0.5)
    with pytest.raises(KeyError, match="no control"):
        strict.set(y=1)


def test_gpu_helpers_run_on_cpu(capsys):
    device = gpu.pick_device()
    out = capsys.readouterr().out
    assert device.type in ("cpu", "cuda", "mps") and out.strip()
    t = gpu.to_torch(ml.ones(2, 3), device)
    assert tuple(t.shape) == (2, 3) and gpu.agree(t, ml.ones(2, 3)) and not gpu.agree(t, ml.zeros(2, 3))
    assert not gpu.agree(t, ml.ones(3, 2))
    assert gpu.to_torch(np.ones(2), requires_grad=True).requires_grad
    rows = gpu.compare_timings([4, 8], {"noop": (lambda n: (lambda: None), "cpu")}, warmup=1, repeats=2)
    assert [r["size"] for r in rows] == [4, 8] and all(r["noop"] >= 0 for r in rows)
    assert "noop" in gpu.format_timings(rows)
    assert gpu.plot_timings(rows).axes[0].get_xscale() == "log"
    assert gpu.time_it(lambda: sum(range(100)), device) > 0


def test_array_runner_gives_each_library_the_same_seeded_values():
    import torch

    seen = {}
    for lib in (ml, torch):
        run = gpu.array_runner(lambda x, lib=lib: seen.__setitem__(lib.__name__, x), lib, lambda n: (n, 3))(4)
        run()
    assert isinstance(seen["minilib"], ml.Tensor) and isinstance(seen["torch"], torch.Tensor)
    assert tuple(seen["minilib"].shape) == (4, 3) and gpu.agree(seen["minilib"], seen["torch"], atol=0)


def test_quick_timing_runs_once(monkeypatch):
    calls = []
    monkeypatch.setenv("MINILIB_QUICK_TIMING", "1")
    gpu.time_it(lambda: calls.append(1), "cpu", warmup=2, repeats=5)
    assert len(calls) == 1
    monkeypatch.delenv("MINILIB_QUICK_TIMING")
    gpu.time_it(lambda: calls.append(1), "cpu", warmup=2, repeats=5)
    assert len(calls) == 1 + 7


def test_progress_outside_a_kernel_respects_tqdm_disable(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert progress(range(3)).disable
    monkeypatch.setenv("TQDM_DISABLE", "0")
    bar = progress(range(3))
    assert not bar.disable and list(bar) == [0, 1, 2]
    assert os.environ["TQDM_DISABLE"] == "0"


def test_expect_prints_the_measured_value_beside_the_bound():
    with pytest.raises(CheckFailed, match=r"expected 70% kept, but it does not hold \(measured 0\.5 \(wanted within "
                                          r"0\.01 of 0\.7\)\)"):
        expect("mask", lambda: {"70% kept": near(ml.tensor(0.5), 0.7, 0.01)})
    with pytest.raises(CheckFailed, match=r"measured 3 \(wanted at most 2\)"):
        expect("n", lambda: {"small": at_most(3, 2)})
    assert at_least(ml.tensor(2.0), 1) and not at_least(0.5, 1) and near(0.705, 0.7, 0.01)


def test_failed_checks_show_their_message_not_library_frames():
    """IPython renders _render_traceback_ instead of a traceback; with a cause (the learner's code raised) it
    falls back to the full traceback, whose course frames carry __tracebackhide__."""
    with pytest.raises(CheckFailed) as failure:
        check("relu", lambda x: x * 2, ml.relu, (3,))
    assert failure.value._render_traceback_() == [f"CheckFailed: {failure.value}"]
    with pytest.raises(CheckFailed) as crash:
        check("relu", lambda x: 1 / 0, ml.relu, (3,))
    with pytest.raises(AttributeError):
        crash.value._render_traceback_()
    hidden = [tb.tb_frame.f_locals.get("__tracebackhide__") for tb in _frames(failure.value.__traceback__)]
    assert hidden[1:] and all(hidden[1:]), "every frame inside course/ hides itself"
    with pytest.raises(ClaimNotShown) as not_shown:
        claim("x beats y", [0, 1, 2], [1, 1, 1], [2, 2, 2])
    assert not_shown.value._render_traceback_()[0].startswith("ClaimNotShown: ✗ not shown: x beats y")


def _frames(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def test_gpu_comparisons_use_full_float32_precision():
    """cuDNN convolutions default to TF32 on recent GPUs; pick_device turns it off on every device."""
    import torch

    torch.backends.cudnn.conv.fp32_precision = "tf32"
    torch.backends.cuda.matmul.fp32_precision = "tf32"
    gpu.pick_device(verbose=False)
    assert torch.backends.cudnn.conv.fp32_precision == "ieee"
    assert torch.backends.cudnn.rnn.fp32_precision == "ieee"
    assert torch.backends.cuda.matmul.fp32_precision == "ieee"


def test_timing_tables_name_their_units():
    table = gpu.format_timings([{"size": 4, "a": 1.0}], size="rows n")
    assert table.splitlines()[0] == "milliseconds per call (median)" and "rows n" in table


def test_interop_to_numpy_reads_every_kind_of_tensor():
    import torch

    from minilib import interop

    values = np.arange(6, dtype=np.float32).reshape(2, 3)
    for x in (ml.tensor(values), torch.tensor(values, requires_grad=True), values):
        assert np.array_equal(interop.to_numpy(x), values)
    t = interop.to_torch(values)
    assert t.dtype == torch.float32 and not t.requires_grad and np.array_equal(t.numpy(), values)


def test_progress_in_a_kernel_stores_fixed_text(tmp_path):
    """In a notebook the bar's stored text/plain is fixed, whatever TQDM_DISABLE says: nbval compares it."""
    import nbformat
    from nbclient import NotebookClient

    texts = []
    for disable in ("0", "1"):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(
            f"import os; os.environ['TQDM_DISABLE'] = '{disable}'\n"
            "from course import progress\nfor _ in progress(range(300), desc='training'):\n    pass")]
        NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
        texts.append([o["data"]["text/plain"] for o in nb.cells[0].outputs if "data" in o])
    assert texts[0] == texts[1] == [["training (300)"]][0]

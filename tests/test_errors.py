"""Bad input raises an exception whose message names the op, the shapes/values and what was expected."""
import pytest

import minilib as ml
import minilib.nn.functional as F

CASES = [
    ("matmul shapes", lambda: ml.ones(2, 3) @ ml.ones(4, 5), RuntimeError, r"matmul.*\(2, 3\).*\(4, 5\)"),
    ("matmul scalar", lambda: ml.tensor(2.0) @ ml.ones(2), RuntimeError, "at least 1 dimension"),
    ("broadcast", lambda: ml.ones(2, 3) + ml.ones(4), ValueError, r"add.*\(2, 3\).*\(4,\).*broadcast"),
    ("cat shapes", lambda: ml.cat([ml.ones(2, 3), ml.ones(3, 4)]), RuntimeError, r"cat.*\(2, 3\).*\(3, 4\)"),
    ("stack shapes", lambda: ml.stack([ml.ones(2), ml.ones(3)]), RuntimeError, "stack.*equal size"),
    ("reshape", lambda: ml.ones(2, 3).reshape(4, 2), RuntimeError, r"reshape.*\[4, 2\].*\(2, 3\)"),
    ("dim range", lambda: ml.ones(2, 3).sum(5), IndexError, r"range of \[-2, 1\].*got 5"),
    ("index range", lambda: ml.ones(2, 3)[5], IndexError, r"out of bounds.*\(2, 3\)"),
    ("float index", lambda: ml.ones(3)[ml.tensor([1.0])], IndexError, "long, int or bool"),
    ("embedding float idx", lambda: F.embedding(ml.tensor([1.0]), ml.ones(4, 2)), TypeError, "integer.*long"),
    ("embedding range", lambda: F.embedding(ml.tensor([7]), ml.ones(4, 2)), IndexError, "index 7.*4 rows"),
    ("ce target range", lambda: F.cross_entropy(ml.ones(2, 3), ml.tensor([0, 3])), IndexError,
     r"target 3.*\[0, 3\)"),
    ("ce target shape", lambda: F.cross_entropy(ml.ones(2, 3), ml.tensor([0, 1, 2])), ValueError,
     r"\(2, 3\).*\(2,\).*\(3,\)"),
    ("ce target dtype", lambda: F.cross_entropy(ml.ones(2, 3), ml.tensor([True, False])), TypeError, "int64"),
    ("ce prob shape", lambda: F.cross_entropy(ml.ones(2, 3), ml.ones(2, 4)), ValueError, "probability targets"),
    ("conv kernel too big", lambda: F.conv2d(ml.ones(1, 1, 3, 3), ml.ones(1, 1, 5, 5)), ValueError,
     r"kernel height 5.*padded input height 3"),
    ("conv channels", lambda: F.conv2d(ml.ones(1, 2, 5, 5), ml.ones(1, 3, 3, 3)), ValueError,
     "input has 2 channels"),
    ("conv groups", lambda: F.conv2d(ml.ones(1, 3, 5, 5), ml.ones(2, 1, 3, 3), groups=2), ValueError,
     "divisible by groups"),
    ("pool too big", lambda: F.max_pool2d(ml.ones(1, 1, 2, 2), 3), ValueError, r"pool2d.*kernel height 3"),
    ("pool padding", lambda: F.avg_pool2d(ml.ones(1, 1, 4, 4), 2, padding=2), ValueError, "at most half"),
    ("linear shapes", lambda: F.linear(ml.ones(2, 3), ml.ones(4, 5)), ValueError, "in_features 5"),
    ("mse shapes", lambda: F.mse_loss(ml.ones(2, 3), ml.ones(3)), ValueError, "mse_loss.*must match"),
    ("gather range", lambda: ml.ones(2, 3).gather(1, ml.tensor([[0], [3]])), IndexError, "index 3.*size 3"),
    ("index_select negative", lambda: ml.ones(2, 3).index_select(1, ml.tensor([-1])), IndexError,
     r"index -1 is out of range.*0 <= index < 3"),
    ("gather dtype", lambda: ml.ones(2, 3).gather(1, ml.tensor([[0.0], [1.0]])), TypeError, "integer"),
    ("expand", lambda: ml.ones(2, 3).expand(4, 3), RuntimeError, r"expand.*size 2"),
    ("permute", lambda: ml.ones(2, 3).permute(0, 0), RuntimeError, "not a permutation"),
    ("mean of ints", lambda: ml.arange(3).mean(), TypeError, "mean.*floating point"),
    ("item of many", lambda: ml.ones(3).item(), RuntimeError, "3 elements"),
    ("dropout p", lambda: F.dropout(ml.ones(3), 1.5), ValueError, "between 0 and 1"),
    ("layer_norm shape", lambda: F.layer_norm(ml.ones(2, 3), (4,)), ValueError, "trailing dims"),
    ("topk k", lambda: ml.ones(3).topk(5), RuntimeError, "k=5"),
    ("where cond", lambda: ml.where(ml.ones(2), ml.ones(2), 0.0), TypeError, "bool"),
    ("unsupported dtype", lambda: ml.tensor(["a"]), TypeError, "can't build a tensor"),
    ("cuda", lambda: ml.ones(2).to("cuda"), RuntimeError, "CPU only"),
    ("bool of many", lambda: bool(ml.ones(2)), RuntimeError, "ambiguous"),
    ("multinomial", lambda: ml.multinomial(ml.tensor([1.0, 0.0]), 2), RuntimeError, "without replacement"),
    ("bernoulli", lambda: ml.bernoulli(ml.tensor([1.5])), ValueError, r"\[0, 1\]"),
    ("split sizes", lambda: ml.ones(5).split([2, 2]), RuntimeError, "sum to 4"),
]


@pytest.mark.parametrize("name,fn,exc,pattern", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_clear_error(name, fn, exc, pattern):
    with pytest.raises(exc, match=pattern):
        fn()


def test_module_assignment_before_init_explains_fix():
    class Broken(ml.nn.Module):
        def __init__(self):
            self.layer = ml.nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Broken()


def test_load_state_dict_reports_missing_and_shape_mismatch():
    m = ml.nn.Linear(2, 3)
    with pytest.raises(RuntimeError, match="missing keys.*bias"):
        m.load_state_dict({"weight": ml.zeros(3, 2)})
    with pytest.raises(RuntimeError, match=r"size mismatch for weight.*\(2, 2\)"):
        m.load_state_dict({"weight": ml.zeros(2, 2), "bias": ml.zeros(3)})


def test_thread_count_from_the_environment_is_checked(monkeypatch):
    from minilib import _threads

    monkeypatch.setenv("MINILIB_NUM_THREADS", "3")
    assert _threads._workers() == 3
    monkeypatch.setenv("MINILIB_NUM_THREADS", "two")
    with pytest.raises(ValueError, match="MINILIB_NUM_THREADS must be a positive integer, got 'two'"):
        _threads._workers()

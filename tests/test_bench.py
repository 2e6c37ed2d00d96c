"""The benchmark times like with like: each case computes the same values in minilib and torch."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import minilib

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import bench_minilib  # noqa: E402

CASES = {name: (make, op) for name, make, op in bench_minilib._cases()}


@pytest.mark.parametrize("name", CASES)
def test_bench_case_computes_the_same_in_both_libraries(name):
    make, op = CASES[name]
    arrays = make()
    outs = []
    for lib in (minilib, torch):
        out = op(lib, *[lib.tensor(a) if isinstance(a, np.ndarray) else a for a in arrays])
        outs.append(out.detach().numpy() if isinstance(out, torch.Tensor) else out.numpy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-4, atol=1e-4, err_msg=name)


def test_bench_floors_time_every_reference_point():
    floors = bench_minilib._floors(repeats=1)
    assert len(floors) == 3 and all(t > 0 for _, t in floors)

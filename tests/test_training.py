"""End-to-end: minilib and torch train the same MLP identically; a small CNN learns digits."""
import numpy as np
import pytest
import torch

import minilib as ml
from minilib.interop import copy_weights


def _mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


@pytest.mark.parametrize("opt_name,kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("AdamW", dict(lr=0.01))])
def test_mlp_losses_agree_with_torch_for_50_steps(opt_name, kw):
    data = ml.data.digits(flatten=True)
    ml.manual_seed(0)
    mine, ref = _mlp(ml), _mlp(torch)
    copy_weights(mine, ref)
    om = getattr(ml.optim, opt_name)(mine.parameters(), **kw)
    ot = getattr(torch.optim, opt_name)(ref.parameters(), **kw)
    x, y = data.x_train.numpy(), data.y_train.numpy()
    rng = np.random.default_rng(0)
    for step in range(50):
        idx = rng.choice(len(x), 64, replace=False)
        losses = []
        for lib, model, opt in ((ml, mine, om), (torch, ref, ot)):
            opt.zero_grad()
            loss = lib.nn.functional.cross_entropy(model(lib.tensor(x[idx])), lib.tensor(y[idx]))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert losses[0] == pytest.approx(losses[1], rel=1e-4), f"step {step}: {losses}"


def test_small_cnn_reaches_95_percent_on_digits():
    nn, F = ml.nn, ml.nn.functional
    ml.manual_seed(0)
    data = ml.data.digits()
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(32 * 2 * 2, 10))
    opt = ml.optim.Adam(model.parameters(), lr=5e-3)
    loader = ml.data.DataLoader(ml.data.TensorDataset(data.x_train, data.y_train), batch_size=64, shuffle=True,
                                generator=ml.Generator().manual_seed(0))
    for _ in range(8):
        for xb, yb in loader:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    model.eval()
    with ml.no_grad():
        acc = (model(data.x_test).argmax(1) == data.y_test).float().mean().item()
    assert acc >= 0.95, f"test accuracy {acc:.3f}"

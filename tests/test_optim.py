"""Optimizers and schedulers against torch.optim: identical parameter trajectories in float64."""
import numpy as np
import pytest
import torch

import minilib as ml

OPTIMIZERS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd_momentum": ("SGD", dict(lr=0.05, momentum=0.9)),
    "sgd_nesterov_wd": ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1)),
    "sgd_dampening": ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.3)),
    "adam": ("Adam", dict(lr=0.05)),
    "adam_l2": ("Adam", dict(lr=0.05, weight_decay=0.1, betas=(0.8, 0.99))),
    "adam_amsgrad": ("Adam", dict(lr=0.05, amsgrad=True)),
    "adamw": ("AdamW", dict(lr=0.05)),
    "adamw_strong_decay": ("AdamW", dict(lr=0.05, weight_decay=0.5)),
}


def _loss(lib, w, x):
    return ((x @ w).tanh() ** 2).sum() + (w ** 4).sum()


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_trajectory_matches_torch(name):
    cls, kw = OPTIMIZERS[name]
    rng = np.random.default_rng(0)
    w0, x = rng.normal(size=(4, 3)), rng.normal(size=(5, 4))
    wm, wt = ml.tensor(w0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    xm, xt = ml.tensor(x), torch.tensor(x)
    om, ot = getattr(ml.optim, cls)([wm], **kw), getattr(torch.optim, cls)([wt], **kw)
    for _ in range(25):
        for lib, w, xx, opt in ((ml, wm, xm, om), (torch, wt, xt, ot)):
            opt.zero_grad()
            _loss(lib, w, xx).backward()
            opt.step()
    np.testing.assert_allclose(wm.data, wt.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_param_groups_with_own_learning_rates():
    a, b = ml.ones(2, requires_grad=True), ml.ones(2, requires_grad=True)
    opt = ml.optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    (a.sum() + b.sum()).backward()
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.0)


def test_zero_grad_sets_none_and_skips_params_without_grad():
    a, b = ml.ones(2, requires_grad=True), ml.ones(2, requires_grad=True)
    opt = ml.optim.Adam([a, b], lr=0.1)
    a.sum().backward()
    opt.step()
    assert b.data.tolist() == [1.0, 1.0]
    opt.zero_grad()
    assert a.grad is None


SCHEDULERS = {
    "step": ("StepLR", dict(step_size=3, gamma=0.5)),
    "cosine": ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01)),
    "lambda": ("LambdaLR", dict(lr_lambda=lambda e: 1 / (1 + e))),
}


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_scheduler_matches_torch(name):
    cls, kw = SCHEDULERS[name]
    om = ml.optim.SGD([ml.ones(1, requires_grad=True)], lr=0.3)
    ot = torch.optim.SGD([torch.ones(1, requires_grad=True)], lr=0.3)
    sm = getattr(ml.optim.lr_scheduler, cls)(om, **kw)
    st = getattr(torch.optim.lr_scheduler, cls)(ot, **kw)
    for _ in range(20):
        om.step()
        ot.step()
        sm.step()
        st.step()
        assert sm.get_last_lr() == pytest.approx(st.get_last_lr(), rel=1e-12)


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="Nesterov"):
        ml.optim.SGD([ml.ones(1, requires_grad=True)], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        ml.optim.Adam([ml.ones(1, requires_grad=True)], betas=(1.5, 0.9))
    with pytest.raises(TypeError, match="iterable"):
        ml.optim.SGD(ml.ones(1, requires_grad=True), lr=0.1)

"""Global state across threads: grad mode per thread (as torch's), and the row thread pool."""
import threading

import numpy as np
import pytest
import torch

import minilib as ml
from minilib import _threads


@pytest.mark.parametrize("lib", [ml, torch])
def test_no_grad_in_one_thread_leaves_another_recording(lib):
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def quiet():
        with lib.no_grad():
            inside.set()
            done.wait(10)
            seen["quiet"] = (lib.ones(2, requires_grad=True) * 2).requires_grad

    worker = threading.Thread(target=quiet)
    worker.start()
    inside.wait(10)
    seen["main"] = (lib.ones(2, requires_grad=True) * 2).requires_grad, lib.is_grad_enabled()
    done.set()
    worker.join(10)
    assert seen == {"quiet": False, "main": (True, True)}


def test_a_new_thread_starts_with_grad_enabled():
    seen = []
    with ml.no_grad():
        t = threading.Thread(target=lambda: seen.append(ml.is_grad_enabled()))
        t.start()
        t.join(10)
    assert seen == [True] and ml.is_grad_enabled()


@pytest.fixture
def fresh_pool(monkeypatch):
    monkeypatch.setattr(_threads, "_pool", None)
    made = []
    real = _threads.ThreadPoolExecutor

    def counting(*args, **kwargs):
        made.append(kwargs.get("max_workers"))
        return real(*args, **kwargs)

    monkeypatch.setattr(_threads, "ThreadPoolExecutor", counting)
    monkeypatch.setattr(_threads, "MIN_ELEMENTS", 1)
    return made


def test_the_pool_is_made_once_when_threads_race_for_it(fresh_pool, monkeypatch):
    monkeypatch.setenv("MINILIB_NUM_THREADS", "3")
    start, lock, covered = threading.Barrier(8), threading.Lock(), []

    def kernel(a, b):
        with lock:
            covered.append(b - a)

    def use():
        start.wait(10)
        for _ in range(20):
            _threads.over_rows(kernel, 64, 1 << 20)

    workers = [threading.Thread(target=use) for _ in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert fresh_pool == [2] and sum(covered) == 8 * 20 * 64


def test_the_pool_follows_a_changed_thread_count(fresh_pool, monkeypatch):
    names = set()

    def kernel(a, b):
        names.add(threading.current_thread().name)

    for count in ("3", "2", "2", "4", "1"):
        monkeypatch.setenv("MINILIB_NUM_THREADS", count)
        _threads.over_rows(kernel, 8, 1 << 20)
    assert fresh_pool == [2, 1, 3]  # re-sized when the count changed, reused when it did not, unused at 1
    assert _threads._pool[0] == 3


def _F(L):
    return L.nn.functional


ROW_KERNELS = {  # every op whose kernel splits rows across threads (_threads.over_rows)
    "softmax": lambda L, x, w, b, t: _F(L).softmax(x, -1),
    "softmax_dim0": lambda L, x, w, b, t: _F(L).softmax(x, 0),
    "log_softmax": lambda L, x, w, b, t: _F(L).log_softmax(x, 1),
    "layer_norm": lambda L, x, w, b, t: _F(L).layer_norm(x, (x.shape[-1],), w, b),
    "cross_entropy": lambda L, x, w, b, t: _F(L).cross_entropy(x, t),
    "cross_entropy_smoothing_none": lambda L, x, w, b, t: _F(L).cross_entropy(x, t, label_smoothing=0.1,
                                                                               reduction="none"),
}


@pytest.mark.parametrize("name", sorted(ROW_KERNELS))
def test_the_row_threaded_path_equals_the_serial_one_bit_for_bit(name, monkeypatch):
    """`make test` runs on one thread with small sizes; here the threshold is lowered so every kernel
    splits its rows across 2 and 3 threads, and the results must equal the one-thread ones exactly."""
    monkeypatch.setattr(_threads, "MIN_ELEMENTS", 1)
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(37, 29)) * 4, rng.normal(size=29), rng.normal(size=29)
    t, up = rng.integers(0, 29, 37), rng.normal(size=(37, 29))

    def run(L, threads):
        monkeypatch.setenv("MINILIB_NUM_THREADS", threads)
        xs, ws, bs = (L.tensor(a.astype(np.float32), requires_grad=True) for a in (x, w, b))
        out = ROW_KERNELS[name](L, xs, ws, bs, L.tensor(t))
        upstream = up.reshape(-1)[:out.numel()].reshape(tuple(out.shape)).astype(np.float32)
        (out * L.tensor(upstream)).sum().backward()
        grads = [a.grad for a in (xs, ws, bs) if a.grad is not None]
        return [v.detach().numpy() for v in (out, *grads)]

    serial = run(ml, "1")
    for threads in ("2", "3"):
        split = run(ml, threads)
        assert _threads._pool is not None and _threads._pool[0] == int(threads) - 1, "the threaded path ran"
        assert all(a.tobytes() == s.tobytes() for a, s in zip(split, serial)), f"{threads} threads differ"
    for mine, ref in zip(serial, run(torch, "1")):
        np.testing.assert_allclose(mine, ref, rtol=2e-4, atol=2e-5)

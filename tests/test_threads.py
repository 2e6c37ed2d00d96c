"""Global state across threads: grad mode per thread (as torch's), and the row thread pool."""
import threading

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

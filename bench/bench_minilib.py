"""minilib vs PyTorch-CPU: forward+backward time on the sizes the lessons use, in one table.

    python bench/bench_minilib.py            # full table (about a minute on 2 cores)
    python bench/bench_minilib.py --quick    # fewer repeats

Both libraries get the same float32 inputs; torch runs at its default thread count.
The target (COURSE.md section 8) is a ratio of at most 1.5 for every row.
"""
import argparse
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

import minilib as ml


def _median_time(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _fwd_bwd(lib, make_inputs, op):
    """A closure running op forward and backward from fresh leaves (grads reset each time)."""
    arrays = make_inputs()

    def run():
        leaves = [lib.tensor(a, requires_grad=a.dtype.kind == "f") if isinstance(a, np.ndarray) else a
                  for a in arrays]
        out = op(lib, *leaves)
        out.sum().backward() if out.ndim else out.backward()

    return run


def _cases():
    r = np.random.default_rng(0)

    def f32(*shape):
        return r.standard_normal(shape).astype(np.float32)

    conv_x, conv_w = f32(32, 16, 28, 28), f32(32, 16, 3, 3) * 0.1
    pool_in = f32(32, 32, 28, 28)
    targets = r.integers(0, 1000, 512)
    idx = r.integers(0, 1000, (32, 128))
    q, k, v = f32(8, 128, 64), f32(8, 128, 64), f32(8, 128, 64)

    def F(L):
        return L.nn.functional

    return [
        ("matmul 256x512 @ 512x256", lambda: [f32(256, 512), f32(512, 256)], lambda L, a, b: a @ b),
        ("softmax+cross_entropy 512x1000", lambda: [f32(512, 1000), targets],
         lambda L, x, t: F(L).cross_entropy(x, t)),
        ("softmax 512x1000", lambda: [f32(512, 1000)], lambda L, x: F(L).softmax(x, -1)),
        ("layer_norm 512x768", lambda: [f32(512, 768), f32(768), f32(768)],
         lambda L, x, w, b: F(L).layer_norm(x, (768,), w, b)),
        ("conv2d N=32 16->32 28x28 3x3 p1", lambda: [conv_x, conv_w], lambda L, x, w: F(L).conv2d(x, w, padding=1)),
        ("max_pool2d 2x2 on 32x32x28x28", lambda: [pool_in], lambda L, x: F(L).max_pool2d(x, 2)),
        ("avg_pool2d 2x2 on 32x32x28x28", lambda: [pool_in], lambda L, x: F(L).avg_pool2d(x, 2)),
        ("embedding 1000x64, idx 32x128", lambda: [f32(1000, 64), idx], lambda L, w, i: F(L).embedding(i, w)),
        ("sdpa B=8 T=128 d=64", lambda: [q, k, v], lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v)),
    ]


def _chain(lib, n):
    x = lib.tensor(np.ones(4, dtype=np.float32), requires_grad=True)

    def run():
        y = x
        for _ in range(n):
            y = y * 1.0001
        y.sum().backward()

    return run


def _floors(repeats):
    """What numpy alone needs for the rows that stay over: the passes no numpy formulation can skip."""
    r = np.random.default_rng(0)
    sm, ln = r.standard_normal((512, 1000)).astype(np.float32), r.standard_normal((512, 768)).astype(np.float32)
    out_sm, out_ln = np.empty_like(sm), np.empty_like(ln)
    cols, w = r.standard_normal((32 * 28 * 28, 144)).astype(np.float32), r.standard_normal((144, 32)).astype(np.float32)
    g = r.standard_normal((32 * 28 * 28, 32)).astype(np.float32)
    return [
        ("np.exp on 512x1000 (softmax needs it once)", _median_time(lambda: np.exp(sm, out=out_sm), repeats)),
        ("one elementwise pass on 512x768 (layer_norm needs ~15)",
         _median_time(lambda: np.multiply(ln, ln, out=out_ln), repeats)),
        ("conv2d's three GEMMs (forward, weight grad, input grad)",
         _median_time(lambda: (cols @ w, g.T @ cols, g @ w.T), repeats)),
    ]


def _import_time(module):
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(3)]
    return min(runs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 5 if args.quick else 20
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; numpy {np.__version__}; "
          f"median of {repeats} runs, forward+backward, float32\n")
    rows = []
    for name, make, op in _cases():
        t_ml = _median_time(_fwd_bwd(ml, make, op), repeats)
        t_th = _median_time(_fwd_bwd(torch, make, op), repeats)
        rows.append((name, t_ml * 1e3, t_th * 1e3, t_ml / t_th))
    n = 1000
    t_ml = _median_time(_chain(ml, n), repeats) / n
    t_th = _median_time(_chain(torch, n), repeats) / n
    rows.append((f"autograd overhead per op (chain of {n}), us", t_ml * 1e6, t_th * 1e6, t_ml / t_th))
    width = max(len(r[0]) for r in rows)
    print(f"{'op':<{width}}  {'minilib ms':>11}  {'torch ms':>9}  {'ratio':>6}  target <= 1.5")
    for name, a, b, ratio in rows:
        print(f"{name:<{width}}  {a:11.3f}  {b:9.3f}  {ratio:6.2f}  {'ok' if ratio <= 1.5 else 'OVER'}")
    print("\nnumpy's own floor for the rows over target (single calls, ms):")
    for name, t in _floors(repeats):
        print(f"  {name:<58} {t * 1e3:7.3f}")
    imp = _import_time("minilib")
    print(f"\nimport minilib: {imp:.3f} s (target < 0.5 s)")


if __name__ == "__main__":
    main()

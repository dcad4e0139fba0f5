"""Hand-written fused `@njit(parallel=True)` gradients of the workloads W1-W7.

What a careful person writes by hand with Numba: one pass per data-dependent
stage, no temporaries where a loop can carry the value, BLAS for matrix
products, `prange` for the loops. graphad's Numba backend is measured against
these in bench_backend.py. Each `grad_*` takes the workload's (params, *data)
and returns the gradient with params' structure; `HAND[name]` maps a workload
name to (prepare(params, *data) -> args tuple, kernel).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from graphad.bench.workloads import chain_grad

CHUNKS = 16


@njit(parallel=True, cache=True)
def sine_fit(o, t, x, y):
    go = gt = 0.0
    for i in prange(x.size):
        z = o * x[i] + t
        r = (np.sin(z) - y[i]) * np.cos(z)
        go += r * x[i]
        gt += r
    return go / x.size, gt / x.size


# On 50 points the parallel loop's start-up costs more than the work: a plain @njit.
sine_fit_small = njit(cache=True)(sine_fit.py_func)


@njit(parallel=True, cache=True)
def relu_mlp(W1, b1, W2, b2, W3, b3, x, y):
    n = x.shape[0]
    parts = np.zeros((CHUNKS, 1 * 4 + 4 + 16 + 4 + 4 + 1))
    for c in prange(CHUNKS):
        acc = parts[c]
        h1 = np.empty(4)
        h2 = np.empty(4)
        d2 = np.empty(4)
        for i in range(c * n // CHUNKS, (c + 1) * n // CHUNKS):
            xi = x[i, 0]
            for j in range(4):
                h1[j] = max(xi * W1[0, j] + b1[j], 0.0)
            pred = b3[0]
            for k in range(4):
                z = b2[k]
                for j in range(4):
                    z += h1[j] * W2[j, k]
                h2[k] = max(z, 0.0)
                pred += h2[k] * W3[k, 0]
            d = 2.0 * (pred - y[i, 0]) / n
            acc[28] += d                                   # b3
            for k in range(4):
                acc[24 + k] += h2[k] * d                   # W3
                d2[k] = d * W3[k, 0] if h2[k] > 0 else 0.0
                acc[20 + k] += d2[k]                       # b2
            for j in range(4):
                d1 = 0.0
                for k in range(4):
                    acc[4 + 4 * j + k] += h1[j] * d2[k]    # W2
                    d1 += d2[k] * W2[j, k]
                if h1[j] <= 0:
                    d1 = 0.0
                acc[j] += xi * d1                          # W1
                acc[29 + j] += d1                          # b1
    g = parts.sum(axis=0)
    return g


def _relu_mlp_grad(p, x, y):
    g = relu_mlp(p["W1"], p["b1"], p["W2"], p["b2"], p["W3"], p["b3"], x, y)
    return {"W1": g[0:4].reshape(1, 4), "W2": g[4:20].reshape(4, 4), "b2": g[20:24],
            "W3": g[24:28].reshape(4, 1), "b3": g[28:29], "b1": g[29:33]}


@njit(parallel=True, cache=True)
def _tanh_layer(a, W, b):
    z = np.dot(a, W)
    for i in prange(z.shape[0]):
        for j in range(z.shape[1]):
            z[i, j] = np.tanh(z[i, j] + b[j])
    return z


@njit(parallel=True, cache=True)
def tanh_mlp(W1, b1, W2, b2, W3, b3, x, onehot):
    h1 = _tanh_layer(x, W1, b1)
    h2 = _tanh_layer(h1, W2, b2)
    logits = np.dot(h2, W3)
    n, k = logits.shape
    d = np.empty_like(logits)
    scale = np.float32(1.0 / n)
    for i in prange(n):
        m = logits[i, 0] + b3[0]
        for j in range(k):
            m = max(m, logits[i, j] + b3[j])
        s = np.float32(0.0)
        for j in range(k):
            d[i, j] = np.exp(logits[i, j] + b3[j] - m)
            s += d[i, j]
        for j in range(k):
            d[i, j] = (d[i, j] / s - onehot[i, j]) * scale
    gW3, gb3 = np.dot(h2.T, d), d.sum(axis=0)
    d2 = np.dot(d, W3.T)
    for i in prange(n):
        for j in range(d2.shape[1]):
            d2[i, j] *= 1 - h2[i, j] * h2[i, j]
    gW2, gb2 = np.dot(h1.T, d2), d2.sum(axis=0)
    d1 = np.dot(d2, W2.T)
    for i in prange(n):
        for j in range(d1.shape[1]):
            d1[i, j] *= 1 - h1[i, j] * h1[i, j]
    gW1, gb1 = np.dot(x.T, d1), d1.sum(axis=0)
    return gW1, gb1, gW2, gb2, gW3, gb3


def _tanh_mlp_grad(params, x, onehot):
    (W1, b1), (W2, b2), (W3, b3) = params
    g = tanh_mlp(W1, b1, W2, b2, W3, b3, x, onehot)
    return [(g[0], g[1]), (g[2], g[3]), (g[4], g[5])]


@njit(parallel=True, cache=True)
def logistic_map(x):
    g = np.empty_like(x)
    for i in prange(x.size):
        s = 1.0 / (1.0 + np.exp(-x[i]))
        v, d = s, s * (1.0 - s)
        for _ in range(20):
            d *= 4.0 - 8.0 * v
            v = 4.0 * v * (1.0 - v)
        g[i] = d
    return g


chain = njit(cache=True)(chain_grad)           # the bare @njit call W5 is measured against


ROWS = 1024        # rows of X per block in logistic_regression: 400 KB, stays in L2
ROW_CHUNKS = 4     # its parallel chunks (graphad's kernel: 16 took 1.08x the time)


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract"})
def logistic_regression(w, b, X, y):
    # X is read from memory once: per block of rows, X[block] @ w streams it in and
    # d @ X[block] finds it still in cache (X @ w, then d @ X, reads 40 MB twice).
    # Both products are loops, not BLAS calls: per 1024 x 50 block the calls cost more
    # than the arithmetic (the np.dot version took 1.3x the time). reassoc lets LLVM
    # vectorize the row dot products; the gradient adds eight rows per pass over acc.
    n, k = X.shape
    parts = np.zeros((ROW_CHUNKS, k + 1))
    for c in prange(ROW_CHUNKS):
        hi = (c + 1) * n // ROW_CHUNKS
        d = np.empty(ROWS)
        acc = np.zeros(k)
        db = 0.0
        for r0 in range(c * n // ROW_CHUNKS, hi, ROWS):
            m = min(ROWS, hi - r0)
            block = X[r0:r0 + m]
            for r in range(m):
                z = b
                for j in range(k):
                    z += block[r, j] * w[j]
                d[r] = (1.0 / (1.0 + np.exp(-z)) - y[r0 + r]) / n
                db += d[r]
            r = 0
            while r + 8 <= m:
                d0, d1, d2, d3 = d[r], d[r + 1], d[r + 2], d[r + 3]
                d4, d5, d6, d7 = d[r + 4], d[r + 5], d[r + 6], d[r + 7]
                for j in range(k):
                    acc[j] += (((d0 * block[r, j] + d1 * block[r + 1, j])
                                + (d2 * block[r + 2, j] + d3 * block[r + 3, j]))
                               + ((d4 * block[r + 4, j] + d5 * block[r + 5, j])
                                  + (d6 * block[r + 6, j] + d7 * block[r + 7, j])))
                r += 8
            for r in range(r, m):
                for j in range(k):
                    acc[j] += d[r] * block[r, j]
        parts[c, :k] = acc
        parts[c, k] = db
    g = parts.sum(axis=0)
    return g[:k], g[k]


@njit(parallel=True, cache=True)
def logsumexp_squares(y):
    n = y.size
    peaks = np.full(CHUNKS, -np.inf)
    for c in prange(CHUNKS):
        m = -np.inf
        for i in range(c * n // CHUNKS, (c + 1) * n // CHUNKS):
            m = max(m, y[i] * y[i])
        peaks[c] = m
    m = peaks.max()
    total = 0.0
    for i in prange(n):
        total += np.exp(y[i] * y[i] - m)
    g = np.empty_like(y)
    for i in prange(n):
        g[i] = 2.0 * y[i] * np.exp(y[i] * y[i] - m) / total
    return g


HAND = {
    "W1-50": lambda p, x, y: sine_fit_small(p[0], p[1], x, y),
    "W1-1e6": lambda p, x, y: sine_fit(p[0], p[1], x, y),
    "W2": _relu_mlp_grad,
    "W3": _tanh_mlp_grad,
    "W4": logistic_map,
    "W5": chain,
    "W6": lambda p, X, y: logistic_regression(p[0], p[1], X, y),
    "W7": logsumexp_squares,
}


class NumbaHand:
    """The kernels above as a graphad.bench implementation (a column of perf_table.py):
    the task's name picks the kernel."""
    name = "numba-hand"
    description = "hand-written fused @njit(parallel=True) gradient (benchmarks/hand_kernels.py)"

    def prepare(self, task):
        from graphad.bench import Runner, Unavailable
        from graphad.bench.impls import _numpy_leaves
        kernel = HAND.get(task.name)
        if kernel is None:
            raise Unavailable(f"no hand-written Numba kernel for {task.name!r}")
        return Runner(lambda: kernel, task.args, _numpy_leaves)

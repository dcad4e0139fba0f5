"""Helpers the generated kernels import: small jitted functions, nothing stateful."""
from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import overload

# the inline math the kernels call (scalar.INLINE names them)
from .vecmath import (cos_f64, cosh_f64, exp_f64, expm1_f64, log1p_f64, log_f64, sin_f64,
                      sincos_f64, sinh_f64, tan_f64, tanh_f32, tanh_f64)

__all__ = ["argsort3", "as_scalar", "batched_dot", "cholesky3", "cumsum3", "eigh3", "gather3",
           "dot2", "dot2_into", "ifmod", "int_dot", "ipow", "scatter_add3",
           "slogdet3", "small_mm", "small_mv", "small_outer", "small_vm", "solve3",
           "cos_f64", "cosh_f64", "exp_f64", "expm1_f64", "log1p_f64", "log_f64", "sin_f64",
           "sincos_f64", "sinh_f64", "tan_f64", "tanh_f32", "tanh_f64"]


def as_scalar(x):
    """A shape-() argument as a scalar, whether passed as a scalar or a 0-d array."""
    return x[()] if isinstance(x, np.ndarray) else x


@overload(as_scalar, inline="always")
def _as_scalar(x):
    if isinstance(x, types.Array):
        return lambda x: x[()]
    return lambda x: x


@njit(cache=True, inline="always")
def ipow(x, n):
    """Integer power by squaring; wraps around on overflow like numpy."""
    if n < 0:
        return x * 0 + (1 if x == 1 else (1 - 2 * (n & 1) if x == -1 else 0))
    result = x * 0 + 1
    while n:
        if n & 1:
            result *= x
        x *= x
        n >>= 1
    return result


@njit(cache=True, inline="always")
def ifmod(a, b):
    """C's remainder (the sign of the dividend), as numpy's fmod on integers; 0 for b == 0."""
    if b == 0:
        return a * 0
    r = abs(a) % abs(b)
    return -r if a < 0 else r


@njit(cache=True)
def batched_dot(a, b):
    out = np.empty((a.shape[0], a.shape[1], b.shape[2]), a.dtype)
    for q in range(a.shape[0]):
        out[q] = np.dot(a[q], b[q])
    return out


@njit(cache=True)
def int_dot(a, b, dtype):
    """Integer and bool matrix products (BLAS has none): a plain triple loop."""
    out = np.zeros((a.shape[0], a.shape[1], b.shape[2]), np.int64)
    for q in range(a.shape[0]):
        for i in range(a.shape[1]):
            for p in range(a.shape[2]):
                aip = np.int64(a[q, i, p])
                for j in range(b.shape[2]):
                    out[q, i, j] += aip * np.int64(b[q, p, j])
    return out.astype(dtype)


# ---- indexing, scans and LAPACK on (batch, rows, cols)-shaped views ----------------------
# The lowerings reshape operands so the axis that matters is the middle one.

@njit(cache=True)
def gather3(x, idx):
    out = np.empty((x.shape[0], idx.size, x.shape[2]), x.dtype)
    for p in range(x.shape[0]):
        for i in range(idx.size):
            row = idx[i]
            for q in range(x.shape[2]):
                out[p, i, q] = x[p, row, q]
    return out


@njit(cache=True)
def scatter_add3(g, idx, size):
    out = np.zeros((g.shape[0], size, g.shape[2]), g.dtype)
    for p in range(g.shape[0]):
        for i in range(idx.size):
            row = idx[i]
            for q in range(g.shape[2]):
                out[p, row, q] += g[p, i, q]
    return out


@njit(cache=True)
def cumsum3(x):
    out = np.empty_like(x)
    for p in range(x.shape[0]):
        for q in range(x.shape[2]):
            acc = x[p, 0, q] * 0
            for i in range(x.shape[1]):
                acc += x[p, i, q]
                out[p, i, q] = acc
    return out


@njit(cache=True)
def argsort3(x):
    out = np.empty(x.shape, np.int64)
    for p in range(x.shape[0]):
        for q in range(x.shape[2]):
            out[p, :, q] = np.argsort(np.ascontiguousarray(x[p, :, q]), kind="mergesort")
    return out


@njit(cache=True)
def solve3(a, b):
    out = np.empty(b.shape, b.dtype)
    for p in range(a.shape[0]):
        out[p] = np.linalg.solve(a[p], b[p])
    return out


@njit(cache=True)
def cholesky3(a):
    out = np.empty_like(a)
    for p in range(a.shape[0]):
        out[p] = np.linalg.cholesky(np.ascontiguousarray(a[p]))
    return out


@njit(cache=True)
def slogdet3(a):
    sign = np.empty(a.shape[0], a.dtype)
    logdet = np.empty(a.shape[0], a.dtype)
    for p in range(a.shape[0]):
        s, v = np.linalg.slogdet(a[p])
        sign[p] = s
        logdet[p] = v
    return sign, logdet


@njit(cache=True)
def eigh3(a):
    w = np.empty((a.shape[0], a.shape[1]), a.dtype)
    v = np.empty_like(a)
    for p in range(a.shape[0]):
        wp, vp = np.linalg.eigh(np.ascontiguousarray(a[p]))
        w[p] = wp
        v[p] = vp
    return w, v


@njit(cache=True)
def dot2(a, b):
    """np.dot of two matrices, compiled once per layout pair and cached on disk, so
    kernels link it instead of compiling Numba's BLAS binding each time."""
    return np.dot(a, b)


@njit(cache=True)
def dot2_into(a, b, out):
    """dot2 writing into `out`, a C-order workspace of the product's shape."""
    np.dot(a, b, out)
    return out


# ---- small matrix products as loops (arrays.SMALL_DOT says when) ---------------------
# Each writes the product into `out` (adds it when `add`) and returns `out`; vectors are
# 1-D. fastmath lets LLVM split a dot product's sum across SIMD lanes, as BLAS does:
# without it small_mv adds one term at a time. Inner loops run over unit strides of
# C-order arrays.
FAST = {"reassoc", "contract"}


@njit(cache=True, fastmath=FAST)
def small_mv(a, x, out, add):
    """out (m,) = a (m, k) @ x (k,)."""
    for i in range(a.shape[0]):
        s = out[i] if add else 0.0
        for p in range(a.shape[1]):
            s += a[i, p] * x[p]
        out[i] = s
    return out


@njit(cache=True, fastmath=FAST)
def small_vm(x, b, out, add):
    """out (n,) = x (k,) @ b (k, n): rows of b scaled and added."""
    if not add:
        out[:] = 0
    for p in range(b.shape[0]):
        xp = x[p]
        for j in range(b.shape[1]):
            out[j] += xp * b[p, j]
    return out


@njit(cache=True, fastmath=FAST)
def small_outer(x, y, out, add):
    """out (m, n) = the outer product of x (m,) and y (n,)."""
    if not add:
        out[:] = 0
    for i in range(x.shape[0]):
        xi = x[i]
        for j in range(y.shape[0]):
            out[i, j] += xi * y[j]
    return out


@njit(cache=True, fastmath=FAST)
def small_mm(a, b, out, add):
    """out (m, n) = a (m, k) @ b (k, n): rows of b scaled and added."""
    if not add:
        out[:] = 0
    for i in range(a.shape[0]):
        for p in range(a.shape[1]):
            aip = a[i, p]
            for j in range(b.shape[1]):
                out[i, j] += aip * b[p, j]
    return out

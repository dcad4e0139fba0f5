"""Matrix primitives backed by LAPACK: solve, cholesky, slogdet, eigh.

All take stacks of square matrices (..., n, n); graphad.numpy broadcasts batch
dimensions and builds inv, det, pinv, eigvalsh, norm(ord=2) and friends on
these. Numba's nopython mode supports the same numpy.linalg calls, so a
backend can lower each one to one call.

cholesky and eigh read only the lower triangle (numpy's default), so their
derivative rules treat the input as the symmetric matrix sym(A) = (A + A^T)/2:
the tangent is symmetrized and the cotangent returned is symmetric, as in JAX
and autograd. eigh's derivative is undefined where eigenvalues repeat.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, TypeMismatchError
from ..ir import TensorType
from .core import Primitive, require_same_dtype
from .elementwise import reciprocal, select
from .linalg import dot_general
from .reductions import reduce_sum
from .shape import broadcast_to, reshape, transpose


# ---- batched matrix helpers (they trace, and run on numpy arrays) ---------------

def mT(x):
    """Swap the last two axes."""
    n = len(x.shape)
    return transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def mm(a, b):
    """Batched matrix product of (..., m, k) and (..., k, n) with equal batch dims."""
    k = len(a.shape) - 2
    return dot_general(a, b, ((k + 1,), (k,)), (tuple(range(k)), tuple(range(k))))


def _sym(x):
    return (x + mT(x)) * 0.5


def _eye(x):
    return np.eye(x.shape[-1], dtype=x.dtype)


def _diag(m):
    """The diagonal of each matrix: (..., n, n) -> (..., n)."""
    return reduce_sum(m * _eye(m), (len(m.shape) - 1,))


def _diag_embed(v):
    """(..., n) -> (..., n, n) with v on the diagonal."""
    return reshape(v, tuple(v.shape[:-1]) + (1, v.shape[-1])) * _eye(v)


def _inverse(a):
    return solve(a, broadcast_to(_eye(a), a.shape))


# ---- shape rules --------------------------------------------------------------------

def _square(name, a: TensorType):
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ShapeError(f"{name}: expected a stack of square matrices (..., n, n), got {a}")
    if a.dtype.kind != "f":
        raise TypeMismatchError(f"{name}: expected a float array, got {a}")
    return a


def _solve_type(a: TensorType, b: TensorType):
    _square("solve", a)
    require_same_dtype("solve", a, b)
    if b.ndim != a.ndim or b.shape[:-1] != a.shape[:-1]:
        raise ShapeError(f"solve: right-hand side {b} does not fit matrices {a}")
    return b


def _slogdet_type(a: TensorType):
    _square("slogdet", a)
    t = TensorType(a.shape[:-2], a.dtype)
    return (t, t)


def _eigh_type(a: TensorType):
    _square("eigh", a)
    return (TensorType(a.shape[:-1], a.dtype), a)


# ---- derivative rules -------------------------------------------------------------

def _solve_vjp(g, a, b, *, out):
    b_bar = solve(mT(a), g)
    return -mm(b_bar, mT(out)), b_bar


def _lower_half(x):
    """The lower triangle of x with its diagonal halved (Phi in Murray, 2016)."""
    n = x.shape[-1]
    return x * (np.tri(n, dtype=x.dtype) - 0.5 * np.eye(n, dtype=x.dtype))


def _cholesky_jvp(t, a, *, out):
    x = solve(out, mT(solve(out, _sym(t[0]))))          # L^-1 sym(dA) L^-T
    return mm(out, _lower_half(x))


def _cholesky_vjp(g, a, *, out):
    p = _lower_half(mm(mT(out), g))
    q = solve(mT(out), p)                               # L^-T P
    return (_sym(mT(solve(mT(out), mT(q)))),)           # L^-T P L^-1, symmetrized


def _slogdet_vjp(g, a, *, out):
    _, g_logdet = g
    return (reshape(g_logdet, tuple(g_logdet.shape) + (1, 1)) * mT(_inverse(a)),)


def _slogdet_jvp(t, a, *, out):
    sign, _ = out
    dlogdet = reduce_sum(_diag(solve(a, t[0])), (len(a.shape) - 2,))    # trace(A^-1 dA)
    return broadcast_to(np.zeros((), sign.dtype), sign.shape), dlogdet


def _eigh_gaps(w):
    """F[..., i, j] = 1 / (w_j - w_i) off the diagonal, 0 on it."""
    n = w.shape[-1]
    lead = tuple(w.shape[:-1])
    gaps = reshape(w, lead + (1, n)) - reshape(w, lead + (n, 1))
    off = ~np.eye(n, dtype=bool)
    return select(off, reciprocal(select(off, gaps, np.ones((), w.dtype))), np.zeros((), w.dtype))


def _eigh_jvp(t, a, *, out):
    w, v = out
    m = mm(mT(v), mm(_sym(t[0]), v))
    return _diag(m), mm(v, _eigh_gaps(w) * m)


def _eigh_vjp(g, a, *, out):
    (w, v), (g_w, g_v) = out, g
    inner = _eigh_gaps(w) * mm(mT(v), g_v) + _diag_embed(g_w)
    return (_sym(mm(v, mm(inner, mT(v)))),)


solve_p = Primitive("solve", infer=_solve_type, impl=np.linalg.solve, kind="linalg",
                    vjp=_solve_vjp,
                    jvp=lambda t, a, b, *, out: solve(a, t[1] - mm(t[0], out)))
cholesky_p = Primitive("cholesky", infer=lambda a: _square("cholesky", a), kind="linalg",
                       impl=np.linalg.cholesky, vjp=_cholesky_vjp, jvp=_cholesky_jvp)
slogdet_p = Primitive("slogdet", infer=_slogdet_type, kind="linalg", multiple_results=True,
                      impl=lambda a: tuple(np.asarray(r) for r in np.linalg.slogdet(a)),
                      vjp=_slogdet_vjp, jvp=_slogdet_jvp)
eigh_p = Primitive("eigh", infer=_eigh_type, kind="linalg", multiple_results=True,
                   impl=lambda a: tuple(np.linalg.eigh(a)), vjp=_eigh_vjp, jvp=_eigh_jvp)


def solve(a, b):
    return solve_p.bind(a, b)


def cholesky(a):
    return cholesky_p.bind(a)


def slogdet(a):
    return slogdet_p.bind(a)


def eigh(a):
    return eigh_p.bind(a)


PRIMITIVES = (solve_p, cholesky_p, slogdet_p, eigh_p)

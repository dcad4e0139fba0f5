"""Tensor contraction: `dot_general`, which dot, matmul, tensordot, outer and
inner all lower to.

dot_general(a, b, contract=(ca, cb), batch=(ba, bb)) contracts axes ca of `a`
with axes cb of `b` pairwise and treats ba/bb as shared batch axes. The result
axes are: batch axes, then a's free axes, then b's free axes, each in order.
The reference implementation and the backends use the same canonical form:
transpose each operand to (batch, free, contract) / (batch, contract, free),
reshape to 3-D and call matmul, which is BLAS.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import ShapeError
from ..ir import TensorType
from .core import Primitive, require_same_dtype
from .shape import transpose


def _free(ndim, contract, batch):
    return tuple(i for i in range(ndim) if i not in contract and i not in batch)


def _dot_type(a: TensorType, b: TensorType, *, contract, batch):
    dtype = require_same_dtype("dot_general", a, b)
    (ca, cb), (ba, bb) = contract, batch
    for (xs, ys, what) in ((ca, cb, "contracted"), (ba, bb, "batch")):
        if len(xs) != len(ys) or any(a.shape[i] != b.shape[j] for i, j in zip(xs, ys)):
            raise ShapeError(f"dot: {what} dimensions do not match: {a.shape} axes {xs} "
                             f"vs {b.shape} axes {ys}")
    fa, fb = _free(a.ndim, ca, ba), _free(b.ndim, cb, bb)
    shape = tuple(a.shape[i] for i in ba) + tuple(a.shape[i] for i in fa) + tuple(b.shape[i] for i in fb)
    return TensorType(shape, dtype)


def dot_general_impl(a, b, *, contract, batch):
    (ca, cb), (ba, bb) = contract, batch
    fa, fb = _free(a.ndim, ca, ba), _free(b.ndim, cb, bb)
    # math.prod, not np.prod, and no unit batch axis: this runs once per op in eager mode.
    size = lambda x, axes: math.prod([x.shape[i] for i in axes])  # noqa: E731
    lead = (size(a, ba),) if ba else ()
    m, n, k = size(a, fa), size(b, fb), size(a, ca)
    a3 = np.transpose(a, ba + fa + ca).reshape(lead + (m, k))
    b3 = np.transpose(b, bb + cb + fb).reshape(lead + (k, n))
    out_shape = tuple(a.shape[i] for i in ba + fa) + tuple(b.shape[i] for i in fb)
    return np.matmul(a3, b3).reshape(out_shape)


def _dot_axes(a, b, contract, batch):
    (ca, cb), (ba, bb) = contract, batch
    fa, fb = _free(a.ndim, ca, ba), _free(b.ndim, cb, bb)
    nbatch = len(ba)
    g_batch = tuple(range(nbatch))
    g_fa = tuple(range(nbatch, nbatch + len(fa)))
    g_fb = tuple(range(nbatch + len(fa), nbatch + len(fa) + len(fb)))
    return ca, cb, ba, bb, fa, fb, g_batch, g_fa, g_fb


def _dot_a_bar(g, a, b, *, out, contract, batch):
    ca, cb, ba, bb, fa, fb, g_batch, g_fa, g_fb = _dot_axes(a, b, contract, batch)
    # Contract g's b-free axes with b's free axes; the result is (batch, fa, b's rest).
    b_rest = tuple(i for i in range(b.ndim) if i not in bb and i not in fb)   # = cb, sorted
    a_bar = dot_general(g, b, (g_fb, fb), (g_batch, bb))
    # b_rest[j] pairs with ca[cb.index(b_rest[j])]: the a axis each result axis becomes.
    a_axes = ba + fa + tuple(ca[cb.index(j)] for j in b_rest)
    return transpose(a_bar, tuple(np.argsort(a_axes)))


def _dot_b_bar(g, a, b, *, out, contract, batch):
    ca, cb, ba, bb, fa, fb, g_batch, g_fa, g_fb = _dot_axes(a, b, contract, batch)
    # As dot(a, g) rather than dot(g, a): its axes come out (batch, a_rest, fb), which for
    # matmul-like products is already b's layout, so no transpose is emitted.
    a_rest = tuple(i for i in range(a.ndim) if i not in ba and i not in fa)   # = ca, sorted
    b_bar = dot_general(a, g, (fa, g_fa), (ba, g_batch))                        # (batch, a_rest, fb)
    b_axes = bb + tuple(cb[ca.index(i)] for i in a_rest) + fb
    return transpose(b_bar, tuple(np.argsort(b_axes)))


dot_general_p = Primitive(
    "dot_general", infer=_dot_type, impl=dot_general_impl, kind="linalg",
    vjp_parts=(_dot_a_bar, _dot_b_bar),
    jvp=lambda t, a, b, *, out, contract, batch:
        dot_general(t[0], b, contract, batch) + dot_general(a, t[1], contract, batch))


def dot_general(a, b, contract, batch=((), ())):
    contract = (tuple(int(i) for i in contract[0]), tuple(int(i) for i in contract[1]))
    batch = (tuple(int(i) for i in batch[0]), tuple(int(i) for i in batch[1]))
    return dot_general_p.bind(a, b, contract=contract, batch=batch)


PRIMITIVES = (dot_general_p,)

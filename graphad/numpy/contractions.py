"""Products: dot, vdot, inner, outer, matmul, tensordot, einsum, kron, cross.

Every contraction is one `dot_general` (plus transposes, broadcasts and
diagonals), whose reverse and forward rules are again dot_generals.
"""
from __future__ import annotations

import builtins
import string
from collections import Counter

import numpy as _np

from ..errors import ShapeError, UnsupportedOperationError
from ..prims import linalg as L
from ..prims import shape as S
from ._base import _axis, _cast, _promote, asarray, public_names
from .elementwise import multiply
from .reductions import sum as _sum
from .shape import diagonal, moveaxis, ravel, reshape, stack


def _operands(*xs):
    xs = _promote(*xs)
    if xs[0].dtype == _np.bool_:
        xs = [_cast(x, _np.int64) for x in xs]
    return xs


def matmul(a, b):
    a, b = _operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: input operand does not have enough dimensions (use * for scalars)")
    if b.ndim <= 2:
        # a's leading axes and b's last axis are free: no batch broadcasting needed.
        return L.dot_general(a, b, ((a.ndim - 1,), (0,)))
    if a.ndim == 1:
        return L.dot_general(a, b, ((0,), (b.ndim - 2,)))
    batch = _np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = S.broadcast_to(a, batch + tuple(a.shape[-2:]))
    b = S.broadcast_to(b, batch + tuple(b.shape[-2:]))
    k = len(batch)
    return L.dot_general(a, b, ((k + 1,), (k,)), (tuple(range(k)), tuple(range(k))))


def dot(a, b):
    a, b = _operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    return L.dot_general(a, b, ((a.ndim - 1,), (builtins.max(b.ndim - 2, 0),)))


def vdot(a, b):
    return dot(ravel(a), ravel(b))


def inner(a, b):
    a, b = _operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    return L.dot_general(a, b, ((a.ndim - 1,), (b.ndim - 1,)))


def outer(a, b):
    a, b = _operands(a, b)
    return L.dot_general(ravel(a), ravel(b), ((), ()))


def vecdot(x1, x2, /, *, axis=-1):
    return _sum(multiply(x1, x2), axis=axis)


def tensordot(a, b, axes=2):
    a, b = _operands(a, b)
    if isinstance(axes, (int, _np.integer)):
        ca, cb = tuple(range(a.ndim - axes, a.ndim)), tuple(range(axes))
    else:
        ca, cb = (tuple(_np.atleast_1d(x)) for x in axes)
        ca = tuple(_axis(i, a.ndim) for i in ca)
        cb = tuple(_axis(i, b.ndim) for i in cb)
    return L.dot_general(a, b, (ca, cb))


def kron(a, b):
    a, b = _operands(asarray(a), asarray(b))
    nd = builtins.max(a.ndim, b.ndim)
    sa = (1,) * (nd - a.ndim) + tuple(a.shape)
    sb = (1,) * (nd - b.ndim) + tuple(b.shape)
    # a[i, j] * b[k, l] laid out as (i, k, j, l), then merged to (i*k, j*l).
    wide_a = reshape(a, tuple(v for s in sa for v in (s, 1)))
    wide_b = reshape(b, tuple(v for s in sb for v in (1, s)))
    return reshape(multiply(wide_a, wide_b), tuple(x * y for x, y in zip(sa, sb)))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = _operands(asarray(a), asarray(b))
    a, b = moveaxis(a, axisa, -1), moveaxis(b, axisb, -1)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise UnsupportedOperationError("cross: graphad supports 3-element vectors only "
                                        f"(got {a.shape[-1]} and {b.shape[-1]})")
    a0, a1, a2 = (a[..., i] for i in range(3))
    b0, b1, b2 = (b[..., i] for i in range(3))
    c = stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
    return moveaxis(c, -1, axisc)


# ---- einsum -------------------------------------------------------------------------

def _parse(subscripts, ndims):
    """Input terms and output term with '...' replaced by fresh letters."""
    s = subscripts.replace(" ", "")
    lhs, arrow, rhs = s.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise ShapeError(f"einsum: {len(terms)} subscript terms for {len(ndims)} operands")
    fresh = [c for c in string.ascii_letters if c not in s]
    n_ell = builtins.max([nd - (len(t) - 3) for t, nd in zip(terms, ndims) if "..." in t],
                         default=0)
    ell = "".join(fresh[:n_ell])
    out = []
    for t, nd in zip(terms, ndims):
        if "..." in t:
            t = t.replace("...", ell[n_ell - (nd - (len(t) - 3)):])
        if len(t) != nd or not builtins.all(c in string.ascii_letters for c in t):
            raise ShapeError(f"einsum: subscripts {t!r} do not fit an operand with {nd} dimensions")
        out.append(t)
    if arrow:
        rhs = rhs.replace("...", ell)
    else:
        counts = Counter("".join(out))
        rhs = ell + "".join(sorted(c for c in counts if counts[c] == 1 and c not in ell))
    if len(set(rhs)) != len(rhs) or builtins.any(c not in "".join(out) for c in rhs):
        raise ShapeError(f"einsum: output subscripts {rhs!r} repeat a letter or name one "
                         "no operand has")
    return out, rhs


def _diagonals(x, term):
    """Repeated letters within one term: take the diagonal (it becomes the last axis)."""
    while True:
        dup = next((c for c in term if term.count(c) > 1), None)
        if dup is None:
            return x, term
        i = term.index(dup)
        j = term.index(dup, i + 1)
        x = diagonal(x, 0, i, j)
        term = "".join(c for k, c in enumerate(term) if k not in (i, j)) + dup


def _sum_unneeded(x, term, needed):
    axes = tuple(k for k, c in enumerate(term) if c not in needed)
    if not axes:
        return x, term
    return _sum(x, axis=axes), "".join(c for c in term if c in needed)


def einsum(subscripts, *operands, out=None, dtype=None, order="K", casting="safe",
           optimize=False):
    """Contract pairwise, left to right, with dot_general: shared letters that a
    later operand or the output still needs are batch axes, the others are summed."""
    if not isinstance(subscripts, str):
        raise UnsupportedOperationError("einsum's (operand, sublist) form is not supported; "
                                        "pass a subscripts string")
    if out is not None:
        raise UnsupportedOperationError("the `out=` argument is not supported: arrays are immutable")
    ops = _operands(*[asarray(x) for x in operands])
    if dtype is not None:
        ops = [_cast(x, dtype) for x in ops]
    terms, rhs = _parse(subscripts, [x.ndim for x in ops])
    sizes = {}
    for x, t in zip(ops, terms):
        for c, d in zip(t, x.shape):
            prev = sizes.get(c, 1)
            if d != prev and 1 not in (d, prev):
                raise ShapeError(f"einsum: letter {c!r} has sizes {prev} and {d}")
            sizes[c] = builtins.max(prev, d)
    pairs = []
    for x, t in zip(ops, terms):
        x = S.broadcast_to(x, tuple(sizes[c] for c in t))        # size-1 dims broadcast
        pairs.append(_diagonals(x, t))
    for k, (x, t) in enumerate(pairs):
        others = set(rhs).union(*[set(u) for i, (_, u) in enumerate(pairs) if i != k])
        pairs[k] = _sum_unneeded(x, t, others)
    acc, at = pairs[0]
    for k in range(1, len(pairs)):
        x, t = pairs[k]
        later = set(rhs).union(*[set(u) for _, u in pairs[k + 1:]])
        common = [c for c in at if c in t]
        batch = [c for c in common if c in later]
        summed = [c for c in common if c not in later]
        acc = L.dot_general(acc, x, ([at.index(c) for c in summed], [t.index(c) for c in summed]),
                            ([at.index(c) for c in batch], [t.index(c) for c in batch]))
        at = "".join(batch + [c for c in at if c not in common] + [c for c in t if c not in common])
        acc, at = _sum_unneeded(acc, at, later)
    acc, at = _sum_unneeded(acc, at, set(rhs))
    return S.transpose(acc, tuple(at.index(c) for c in rhs))


__all__ = public_names(globals())

"""Reductions and scans: sum, mean, max/min, prod, var/std, logsumexp,
cumsum/cumprod, average, trace, all/any.

Reduction primitives take a sorted tuple of axes; keepdims is a reshape.
"""
from __future__ import annotations

import builtins
import math

import numpy as _np

from ..errors import ShapeError
from ..prims import reductions as R
from ..prims import shape as S
from ..prims.core import normalize_axes
from ._base import _axis, _cast, _check_out, _float, _promote, asarray, public_names
from .elementwise import logical_not, not_equal, sqrt, where
from .shape import broadcast_to, diagonal, expand_dims, moveaxis, ravel, reshape


def _reduction_operand(a, dtype=None):
    """numpy accumulates bools and small integers in the default integer type."""
    a = asarray(a)
    if dtype is not None:
        return _cast(a, dtype)
    kind = a.dtype.kind
    if kind == "b" or (kind == "i" and a.dtype.itemsize < 8):
        return _cast(a, _np.int64)
    if kind == "u" and a.dtype.itemsize < 8:
        return _cast(a, _np.uint64)
    return a


def _keepdims(r, shape, axes, keepdims):
    return S.reshape(r, R._kept_shape(shape, axes)) if keepdims else r


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None):  # noqa: A001
    _check_out(out)
    a = _reduction_operand(a, dtype)
    axes = normalize_axes(axis, a.ndim)
    r = _keepdims(R.reduce_sum(a, axes), a.shape, axes, keepdims)
    return r if initial is None else r + initial


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    _check_out(out)
    a = asarray(a)
    if dtype is not None or a.dtype.kind != "f":
        a = _cast(a, dtype or _np.float64)
    axes = normalize_axes(axis, a.ndim)
    count = math.prod(a.shape[i] for i in axes)
    return sum(a, axis=axes, keepdims=keepdims) / count


def _extremum(prim, name):
    def f(a, axis=None, out=None, keepdims=False):
        _check_out(out)
        a = asarray(a)
        axes = normalize_axes(axis, a.ndim)
        if builtins.any(a.shape[i] == 0 for i in axes):
            raise ShapeError(f"zero-size array to reduction operation {name} which has no identity")
        r = prim.bind(a, axes=axes) if axes else a
        return _keepdims(r, a.shape, axes, keepdims)
    f.__name__ = name
    return f


max = amax = _extremum(R.reduce_max_p, "max")  # noqa: A001
min = amin = _extremum(R.reduce_min_p, "min")  # noqa: A001


def ptp(a, axis=None, keepdims=False):
    return max(a, axis=axis, keepdims=keepdims) - min(a, axis=axis, keepdims=keepdims)


def prod(a, axis=None, dtype=None, out=None, keepdims=False):
    _check_out(out)
    a = _reduction_operand(a, dtype)
    axes = normalize_axes(axis, a.ndim)
    return _keepdims(R.reduce_prod(a, axes), a.shape, axes, keepdims)


def logsumexp(a, axis=None, keepdims=False):
    a = _float(asarray(a))
    axes = normalize_axes(axis, a.ndim)
    r = R.logsumexp_p.bind(a, axes=axes) if axes else a
    return _keepdims(r, a.shape, axes, keepdims)


def _arg(prim, name):
    def f(a, axis=None, out=None, *, keepdims=False):
        _check_out(out)
        a = asarray(a)
        if axis is None:
            r = prim.bind(ravel(a), axis=0)
            return reshape(r, (1,) * a.ndim) if keepdims else r
        axis = _axis(axis, a.ndim)
        r = prim.bind(a, axis=axis)
        return expand_dims(r, axis) if keepdims else r
    f.__name__ = name
    return f


argmax = _arg(R.argmax_p, "argmax")
argmin = _arg(R.argmin_p, "argmin")


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    _check_out(out)
    a = _float(asarray(a)) if dtype is None else _cast(asarray(a), dtype)
    axes = normalize_axes(axis, a.ndim)
    centered = a - mean(a, axis=axes, keepdims=True)
    n = math.prod(a.shape[i] for i in axes)
    return sum(centered * centered, axis=axes, keepdims=keepdims) / (n - ddof)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return sqrt(var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims))


def all(a, axis=None, keepdims=False):  # noqa: A001
    return logical_not(any(logical_not(a), axis=axis, keepdims=keepdims))


def any(a, axis=None, keepdims=False):  # noqa: A001
    a = asarray(a)
    b = a if a.dtype == _np.bool_ else not_equal(a, 0)
    axes = normalize_axes(axis, b.ndim)
    if builtins.any(b.shape[i] == 0 for i in axes):   # nothing is true in an empty set
        shape = R._kept_shape(b.shape, axes) if keepdims else tuple(
            d for i, d in enumerate(b.shape) if i not in axes)
        return _np.zeros(shape, bool)
    return max(b, axis=axes, keepdims=keepdims)


def count_nonzero(a, axis=None, *, keepdims=False):
    return sum(not_equal(asarray(a), 0), axis=axis, keepdims=keepdims)


# ---- scans --------------------------------------------------------------------------

def cumsum(a, axis=None, dtype=None, out=None):
    _check_out(out)
    a = _reduction_operand(a, dtype)
    if axis is None:
        a, axis = ravel(a), 0
    return R.cumsum(a, _axis(axis, a.ndim))


def cumprod(a, axis=None, dtype=None, out=None):
    """Row j is the product of x[:j+1], written as a masked product over an n x n
    table: O(n^2) work, but exact, and prod's rule keeps the gradient right at zeros."""
    _check_out(out)
    a = _reduction_operand(a, dtype)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axis(axis, a.ndim)
    x = moveaxis(a, axis, -1)
    n = x.shape[-1]
    table = broadcast_to(expand_dims(x, -2), tuple(x.shape[:-1]) + (n, n))  # [..., j, i] = x_i
    lower = _np.tri(n, dtype=bool)                                          # i <= j
    out = prod(where(lower, table, _np.ones((), x.dtype)), axis=-1)
    return moveaxis(out, -1, axis)


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    a = asarray(a)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        axes = normalize_axes(axis, a.ndim)
        scale = _np.full(_np.shape(avg), math.prod(a.shape[i] for i in axes), avg.dtype)
    else:
        a, w = _promote(a, asarray(weights), to_float=True)
        if tuple(w.shape) != tuple(a.shape):
            if axis is None:
                raise TypeError("Axis must be specified when shapes of a and weights differ.")
            if w.ndim != 1:
                raise TypeError("1D weights expected when shapes of a and weights differ.")
            ax = _axis(axis, a.ndim)
            if w.shape[0] != a.shape[ax]:
                raise ValueError("Length of weights not compatible with specified axis.")
            w = broadcast_to(reshape(w, (1,) * ax + (w.shape[0],) + (1,) * (a.ndim - ax - 1)),
                             a.shape)
        scale = sum(w, axis=axis, keepdims=keepdims)
        avg = sum(a * w, axis=axis, keepdims=keepdims) / scale
    if returned:
        return avg, broadcast_to(scale, _np.shape(avg)) if scale.shape != avg.shape else scale
    return avg


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    _check_out(out)
    return sum(diagonal(asarray(a), offset, axis1, axis2), axis=-1, dtype=dtype)


__all__ = public_names(globals())

"""Reductions over a sorted tuple of axes (keepdims is a reshape in graphad.numpy)."""
from __future__ import annotations

import numpy as np

from ..ir import TensorType
from .core import Primitive
from .elementwise import convert, eq, exp, ones_of, select, zeros_of
from .shape import broadcast_to, reshape, slice_


def _reduced_type(x: TensorType, *, axes):
    return TensorType(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else d for i, d in enumerate(shape))


def expand(r, shape, axes):
    """Broadcast a reduced value back over the reduced axes of `shape`."""
    return broadcast_to(reshape(r, _kept_shape(shape, axes)), shape)


def _extremum_weights(x, out, axes):
    """Where x attains the extremum, 1/count of such places (ties split evenly)."""
    hit = convert(eq(x, expand(out, x.shape, axes)), x.dtype)
    return hit / expand(reduce_sum(hit, axes), x.shape, axes)


def _extremum(name, impl):
    return Primitive(
        name, infer=_reduced_type, impl=lambda x, *, axes: impl(x, axis=axes), kind="reduction",
        vjp=lambda g, x, *, out, axes: (expand(g, x.shape, axes) * _extremum_weights(x, out, axes),),
        jvp=lambda t, x, *, out, axes: reduce_sum(t[0] * _extremum_weights(x, out, axes), axes))


def _prod_partials(x, out, axes):
    """d prod / d x_i = product of the others, computed without dividing by zero."""
    is_zero = eq(x, zeros_of(x))
    nonzero = select(is_zero, ones_of(x), x)
    p = reduce_prod(nonzero, axes)
    zeros = reduce_sum(convert(is_zero, x.dtype), axes)
    p_if_one_zero = expand(select(eq(zeros, ones_of(zeros)), p, zeros_of(p)), x.shape, axes)
    p_if_no_zero = expand(select(eq(zeros, zeros_of(zeros)), p, zeros_of(p)), x.shape, axes)
    return select(is_zero, p_if_one_zero, p_if_no_zero / nonzero)


def _logsumexp_impl(x, *, axes):
    if not axes:
        return np.array(x, copy=True)
    m = np.max(x, axis=axes, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        s = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return np.squeeze(s, axis=axes).astype(x.dtype, copy=False)


def _softmax_weights(x, out, axes):
    return exp(x - expand(out, x.shape, axes))


reduce_sum_p = Primitive(
    "reduce_sum", infer=_reduced_type, kind="reduction",
    impl=lambda x, *, axes: np.asarray(np.sum(x, axis=axes), dtype=x.dtype),
    vjp=lambda g, x, *, out, axes: (expand(g, x.shape, axes),),
    jvp=lambda t, x, *, out, axes: reduce_sum(t[0], axes))
reduce_max_p = _extremum("reduce_max", np.max)
reduce_min_p = _extremum("reduce_min", np.min)
reduce_prod_p = Primitive(
    "reduce_prod", infer=_reduced_type, kind="reduction",
    impl=lambda x, *, axes: np.asarray(np.prod(x, axis=axes), dtype=x.dtype),
    vjp=lambda g, x, *, out, axes: (expand(g, x.shape, axes) * _prod_partials(x, out, axes),),
    jvp=lambda t, x, *, out, axes: reduce_sum(t[0] * _prod_partials(x, out, axes), axes))
logsumexp_p = Primitive(
    "logsumexp", infer=_reduced_type, impl=_logsumexp_impl, kind="reduction",
    vjp=lambda g, x, *, out, axes: (expand(g, x.shape, axes) * _softmax_weights(x, out, axes),),
    jvp=lambda t, x, *, out, axes: reduce_sum(t[0] * _softmax_weights(x, out, axes), axes))


def _arg_type(x: TensorType, *, axis):
    return TensorType(tuple(d for i, d in enumerate(x.shape) if i != axis), np.int64)


argmax_p = Primitive("argmax", infer=_arg_type, kind="reduction", differentiable=False,
                     impl=lambda x, *, axis: np.asarray(np.argmax(x, axis=axis), np.int64))
argmin_p = Primitive("argmin", infer=_arg_type, kind="reduction", differentiable=False,
                     impl=lambda x, *, axis: np.asarray(np.argmin(x, axis=axis), np.int64))


def _cumsum_type(x: TensorType, *, axis):
    return x


def _flip(x, axis):
    n = x.shape[axis]
    return slice_(x, tuple((n - 1, -1, n) if i == axis else (0, 1, d) for i, d in enumerate(x.shape)))


def _reverse_cumsum(g, axis):
    """sum_{j >= i} g_j: the adjoint of cumsum (a cumsum of the flipped values)."""
    return _flip(cumsum(_flip(g, axis), axis), axis)


cumsum_p = Primitive(
    "cumsum", infer=_cumsum_type, kind="reduction",
    impl=lambda x, *, axis: np.cumsum(x, axis=axis, dtype=x.dtype),
    vjp=lambda g, x, *, out, axis: (_reverse_cumsum(g, axis),),
    jvp=lambda t, x, *, out, axis: cumsum(t[0], axis))


def cumsum(x, axis):
    return cumsum_p.bind(x, axis=int(axis))


def reduce_sum(x, axes):
    return reduce_sum_p.bind(x, axes=tuple(axes)) if axes else x


def reduce_prod(x, axes):
    return reduce_prod_p.bind(x, axes=tuple(axes)) if axes else x


PRIMITIVES = (reduce_sum_p, reduce_max_p, reduce_min_p, reduce_prod_p, logsumexp_p,
              argmax_p, argmin_p, cumsum_p)

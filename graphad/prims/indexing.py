"""Gather and scatter-add along one axis, and argsort.

Every form of advanced indexing in graphad.numpy (integer arrays, constant
boolean masks, take, take_along_axis, sort, repeat) lowers to `gather` on one
axis, after moving and merging the indexed axes. `scatter_add` is its adjoint:
it adds each row of the cotangent into the row its index names, so repeated
indices accumulate.

gather(x, idx, axis):      out[pre, i..., post] = x[pre, idx[i...], post]
scatter_add(g, idx, axis, size): the transpose, into `size` rows.

Indices must lie in [0, size): graphad.numpy normalizes negative indices and
checks constant ones at trace time; out-of-range traced indices are undefined
(the numpy implementation raises).
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError, TypeMismatchError
from ..ir import TensorType
from .core import Primitive


def _check_index(idx: TensorType, what):
    if idx.dtype.kind not in "iu":
        raise TypeMismatchError(f"{what}: indices must be integers, got {idx}")


def _gather_type(x: TensorType, idx: TensorType, *, axis):
    _check_index(idx, "gather")
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"gather: axis {axis} is out of bounds for {x}")
    return TensorType(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)


def _scatter_type(g: TensorType, idx: TensorType, *, axis, size):
    _check_index(idx, "scatter_add")
    if g.shape[axis:axis + idx.ndim] != idx.shape:
        raise ShapeError(f"scatter_add: {g} does not hold indices {idx} at axis {axis}")
    return TensorType(g.shape[:axis] + (size,) + g.shape[axis + idx.ndim:], g.dtype)


def _scatter_impl(g, idx, *, axis, size):
    g = np.asarray(g)
    pre, post = g.shape[:axis], g.shape[axis + np.ndim(idx):]
    out = np.zeros((int(np.prod(pre, dtype=np.int64)), size, int(np.prod(post, dtype=np.int64))),
                   g.dtype)
    np.add.at(out, (slice(None), np.ravel(idx)), g.reshape(out.shape[0], -1, out.shape[2]))
    return out.reshape(pre + (size,) + post)


gather_p = Primitive(
    "gather", infer=_gather_type, kind="shape",
    impl=lambda x, idx, *, axis: np.take(x, idx, axis=axis),
    vjp=lambda g, x, idx, *, out, axis: (scatter_add(g, idx, axis, x.shape[axis]), None),
    jvp=lambda t, x, idx, *, out, axis: gather(t[0], idx, axis))
scatter_add_p = Primitive(
    "scatter_add", infer=_scatter_type, impl=_scatter_impl, kind="shape",
    vjp=lambda g, y, idx, *, out, axis, size: (gather(g, idx, axis), None),
    jvp=lambda t, y, idx, *, out, axis, size: scatter_add(t[0], idx, axis, size))


def _argsort_type(x: TensorType, *, axis):
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"argsort: axis {axis} is out of bounds for {x}")
    return TensorType(x.shape, np.int64)


# A stable sort, so ties keep their order and their gradients go to fixed places.
argsort_p = Primitive(
    "argsort", infer=_argsort_type, kind="shape", differentiable=False,
    impl=lambda x, *, axis: np.argsort(x, axis=axis, kind="stable").astype(np.int64, copy=False))


def gather(x, idx, axis):
    return gather_p.bind(x, idx, axis=int(axis))


def scatter_add(g, idx, axis, size):
    return scatter_add_p.bind(g, idx, axis=int(axis), size=int(size))


def argsort(x, axis):
    return argsort_p.bind(x, axis=int(axis))


PRIMITIVES = (gather_p, scatter_add_p, argsort_p)

"""Shape primitives: reshape, transpose, broadcast, concatenate, strided slices.

Basic indexing (ints, slices with steps, None, Ellipsis) is a strided `slice`
followed by a `reshape`; its adjoint is `scatter_slice`, which writes the
cotangent into zeros of the input's shape (the scatter-add of a slice).
A slice is described per dimension as (start, step, count): element i of the
result reads index start + i*step, which stays unambiguous for negative steps.
"""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..ir import TensorType
from .core import Primitive, broadcast_shapes, require_same_dtype


def _reshape_type(x: TensorType, *, shape):
    if int(np.prod(shape, dtype=np.int64)) != x.size:
        raise ShapeError(f"cannot reshape an array of shape {x.shape} into shape {shape}")
    return TensorType(shape, x.dtype)


def _transpose_type(x: TensorType, *, perm):
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"axes {perm} are not a permutation of the {x.ndim} axes of {x.shape}")
    return TensorType(tuple(x.shape[p] for p in perm), x.dtype)


def _broadcast_type(x: TensorType, *, shape):
    if broadcast_shapes(x.shape, shape) != tuple(shape):
        raise ShapeError(f"cannot broadcast shape {x.shape} to {shape}")
    return TensorType(shape, x.dtype)


def sum_to_shape(g, shape):
    """Sum a broadcast cotangent back to `shape` (the adjoint of broadcasting)."""
    from .reductions import reduce_sum
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = len(g.shape) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                      if d == 1 and g.shape[lead + i] != 1)
    return reshape(reduce_sum(g, axes), shape)


def _concat_type(*xs: TensorType, axis):
    dtype = require_same_dtype("concatenate", *xs)
    first = xs[0].shape
    for x in xs[1:]:
        if len(x.shape) != len(first) or any(a != b for i, (a, b) in enumerate(zip(first, x.shape))
                                               if i != axis):
            raise ShapeError(f"concatenate along axis {axis}: shapes "
                             + ", ".join(str(x.shape) for x in xs) + " do not match")
    return TensorType(first[:axis] + (sum(x.shape[axis] for x in xs),) + first[axis + 1:], dtype)


def _concat_vjp(g, *xs, out, axis):
    cts, start = [], 0
    for x in xs:
        n = x.shape[axis]
        spec = tuple((start, 1, n) if i == axis else (0, 1, d) for i, d in enumerate(g.shape))
        cts.append(slice_(g, spec))
        start += n
    return tuple(cts)


def as_index(spec):
    """The numpy index tuple for a (start, step, count)-per-dimension spec."""
    index = []
    for start, step, count in spec:
        stop = start + count * step
        index.append(slice(start, stop if stop >= 0 else None, step))
    return tuple(index)


def _slice_type(x: TensorType, *, spec):
    if len(spec) != x.ndim:
        raise ShapeError(f"slice spec {spec} has {len(spec)} dims, operand {x.shape} has {x.ndim}")
    for (start, step, count), d in zip(spec, x.shape):
        last = start + (count - 1) * step
        if count < 0 or step == 0 or (count and not (0 <= start < d and 0 <= last < d)):
            raise ShapeError(f"slice {spec} is out of bounds for shape {x.shape}")
    return TensorType(tuple(c for _, _, c in spec), x.dtype)


def _scatter_type(g: TensorType, *, spec, shape):
    if tuple(c for _, _, c in spec) != g.shape:
        raise ShapeError(f"scatter of {g.shape} does not fit slice {spec}")
    return TensorType(shape, g.dtype)


def _scatter_impl(g, *, spec, shape):
    out = np.zeros(shape, g.dtype)
    out[as_index(spec)] = g
    return out


reshape_p = Primitive(
    "reshape", infer=_reshape_type, kind="shape",
    impl=lambda x, *, shape: np.reshape(x, shape),
    vjp=lambda g, x, *, out, shape: (reshape(g, x.shape),),
    jvp=lambda t, x, *, out, shape: reshape(t[0], shape))
transpose_p = Primitive(
    "transpose", infer=_transpose_type, kind="shape",
    impl=lambda x, *, perm: np.transpose(x, perm),
    vjp=lambda g, x, *, out, perm: (transpose(g, tuple(np.argsort(perm))),),
    jvp=lambda t, x, *, out, perm: transpose(t[0], perm))
broadcast_to_p = Primitive(
    "broadcast_to", infer=_broadcast_type, kind="shape",
    impl=lambda x, *, shape: np.broadcast_to(x, shape),
    vjp=lambda g, x, *, out, shape: (sum_to_shape(g, x.shape),),
    jvp=lambda t, x, *, out, shape: broadcast_to(t[0], shape))
concatenate_p = Primitive(
    "concatenate", infer=_concat_type, kind="shape",
    impl=lambda *xs, axis: np.concatenate(xs, axis=axis),
    vjp=_concat_vjp,
    jvp=lambda t, *xs, out, axis: concatenate(t, axis))
slice_p = Primitive(
    "slice", infer=_slice_type, kind="shape",
    impl=lambda x, *, spec: np.array(x[as_index(spec)]),
    vjp=lambda g, x, *, out, spec: (scatter_slice(g, spec, x.shape),),
    jvp=lambda t, x, *, out, spec: slice_(t[0], spec))
scatter_slice_p = Primitive(
    "scatter_slice", infer=_scatter_type, impl=_scatter_impl, kind="shape",
    vjp=lambda g, x, *, out, spec, shape: (slice_(g, spec),),
    jvp=lambda t, x, *, out, spec, shape: scatter_slice(t[0], spec, shape))


def reshape(x, shape):
    shape = tuple(int(d) for d in shape)
    return x if tuple(x.shape) == shape else reshape_p.bind(x, shape=shape)


def transpose(x, perm):
    perm = tuple(int(p) for p in perm)
    return x if perm == tuple(range(len(perm))) else transpose_p.bind(x, perm=perm)


def broadcast_to(x, shape):
    shape = tuple(int(d) for d in shape)
    return x if tuple(x.shape) == shape else broadcast_to_p.bind(x, shape=shape)


def concatenate(xs, axis):
    xs = tuple(xs)
    return xs[0] if len(xs) == 1 else concatenate_p.bind(*xs, axis=int(axis))


def slice_(x, spec):
    spec = tuple((int(a), int(b), int(c)) for a, b, c in spec)
    if all(start == 0 and step == 1 and count == d for (start, step, count), d in zip(spec, x.shape)):
        return x
    return slice_p.bind(x, spec=spec)


def scatter_slice(g, spec, shape):
    return scatter_slice_p.bind(g, spec=tuple(spec), shape=tuple(shape))


PRIMITIVES = (reshape_p, transpose_p, broadcast_to_p, concatenate_p, slice_p, scatter_slice_p)

"""Indexing: basic (ints, slices, None, Ellipsis) as a strided slice, and
advanced (integer arrays, constant boolean masks, traced integer indices) as
one `gather` along a merged axis. take, take_along_axis, sort and partition
are gathers too; their gradients are scatter-adds.

Advanced indexing follows numpy: the index arrays broadcast together; their
result dimensions replace the indexed axes when those are adjacent in the
index, and go first otherwise.
"""
from __future__ import annotations

import builtins

import numpy as _np

from ..errors import IndexOutOfBoundsError, UnsupportedOperationError
from ..prims import indexing as I
from ..prims import shape as S
from ._base import _axis, _cast, _traced, asarray, public_names
from .elementwise import add, less, multiply, where
from .shape import broadcast_to, moveaxis, ravel


def _is_array_index(ix) -> bool:
    if _traced(ix):
        return True
    if isinstance(ix, (list, _np.ndarray)):
        return _np.asarray(ix).ndim > 0 or _np.asarray(ix).dtype == _np.bool_
    return False


def getitem(a, index):
    a = asarray(a)
    index = index if isinstance(index, tuple) else (index,)
    for ix in index:
        if isinstance(ix, (bool, _np.bool_)) or not (
                ix is None or ix is Ellipsis or isinstance(ix, (slice, int, _np.integer))
                or _is_array_index(ix) or (isinstance(ix, _np.ndarray) and ix.ndim == 0)):
            raise UnsupportedOperationError(f"indexing with {type(ix).__name__} is not supported; "
                                            "use ints, slices, None, Ellipsis or integer arrays")
    index = _expand_masks(a, index)
    if builtins.any(_is_array_index(ix) for ix in index):
        return _advanced(a, index)
    return _basic(a, index)


def _expand_masks(a, index):
    """Constant boolean masks become the integer arrays of their True positions."""
    out, dim = [], 0
    for ix in index:
        if _traced(ix) and ix.dtype == _np.bool_:
            raise UnsupportedOperationError(
                "indexing with a traced boolean mask gives a data-dependent shape; use a "
                "constant mask, or gnp.where(mask, x, 0) to keep the shape")
        if isinstance(ix, (list, _np.ndarray)) and _np.asarray(ix).dtype == _np.bool_:
            mask = _np.asarray(ix)
            if mask.shape != tuple(a.shape[dim:dim + mask.ndim]):
                raise IndexOutOfBoundsError(f"boolean index of shape {mask.shape} does not match "
                                            f"the indexed dimensions {a.shape[dim:dim + mask.ndim]}")
            out.extend(_np.nonzero(mask))
            dim += mask.ndim
            continue
        out.append(ix)
        dim += ix is not None and ix is not Ellipsis
    return tuple(out)


def _full_index(ndim, index):
    """The index with Ellipsis expanded and trailing full slices added."""
    n_real = builtins.sum(1 for ix in index if ix is not None and ix is not Ellipsis)
    if n_real > ndim:
        raise IndexOutOfBoundsError(f"too many indices for array: array is {ndim}-dimensional, "
                                    f"but {n_real} were indexed")
    if builtins.sum(1 for ix in index if ix is Ellipsis) > 1:
        raise IndexOutOfBoundsError("an index can only have a single ellipsis ('...')")
    expanded = []
    for ix in index:
        expanded.extend([slice(None)] * (ndim - n_real) if ix is Ellipsis else [ix])
    if not builtins.any(ix is Ellipsis for ix in index):   # `in` would compare arrays
        expanded.extend([slice(None)] * (ndim - n_real))
    return expanded


def _basic(a, index):
    spec, out_shape, dim = [], [], 0
    for ix in _full_index(a.ndim, index):
        if ix is None:
            out_shape.append(1)
            continue
        d = a.shape[dim]
        if isinstance(ix, slice):
            start, stop, step = ix.indices(d)
            count = len(range(start, stop, step))
            spec.append((start if count else 0, step, count))
            out_shape.append(count)
        else:
            i = int(ix)
            if not -d <= i < d:
                raise IndexOutOfBoundsError(f"index {i} is out of bounds for axis {dim} with size {d}")
            spec.append((i % d, 1, 1))
        dim += 1
    return S.reshape(S.slice_(a, spec), tuple(out_shape))


def _normalized(ix, size, axis):
    """An integer index array with negative entries wrapped; constants bounds-checked."""
    if _traced(ix):
        if ix.dtype.kind not in "iu":
            raise IndexOutOfBoundsError(f"arrays used as indices must be integers, got {ix.dtype}")
        ix = _cast(ix, _np.int64)
        return where(less(ix, 0), add(ix, size), ix)
    ix = _np.asarray(ix)
    if ix.size == 0:
        ix = ix.astype(_np.int64)     # x[[]] is an empty integer index
    if ix.dtype.kind not in "iu":
        raise IndexOutOfBoundsError(f"arrays used as indices must be integers, got {ix.dtype}")
    if ix.size and (ix.min() < -size or ix.max() >= size):
        bad = ix[(ix < -size) | (ix >= size)].flat[0]
        raise IndexOutOfBoundsError(f"index {bad} is out of bounds for axis {axis} with size {size}")
    return _np.where(ix < 0, ix + size, ix).astype(_np.int64)


def _advanced(a, index):
    # 1. Basic-index everything, keeping the advanced axes whole: one axis per entry.
    full = _full_index(a.ndim, index)
    is_adv = [ix is not None and not isinstance(ix, slice) for ix in full]
    x = _basic(a, tuple(slice(None) if adv else ix for ix, adv in zip(full, is_adv)))
    axes = [k for k, adv in enumerate(is_adv) if adv]
    # 2. The index arrays, normalized and broadcast together, merged into one flat index.
    sizes = [x.shape[k] for k in axes]
    idx = [_normalized(full[k], d, k) for k, d in zip(axes, sizes)]
    shape = _np.broadcast_shapes(*[tuple(_np.shape(i)) if not _traced(i) else tuple(i.shape)
                                   for i in idx])
    flat, stride = None, 1
    for i, d in reversed(list(zip(idx, sizes))):
        term = i if stride == 1 else multiply(i, stride)
        flat = term if flat is None else add(term, flat)
        stride *= d
    flat = broadcast_to(flat, shape)
    # 3. Bring the indexed axes together (in place when adjacent, else to the front),
    #    merge them, and gather.
    adjacent = axes == list(range(axes[0], axes[0] + len(axes)))
    at = axes[0] if adjacent else 0
    if not adjacent:
        x = S.transpose(x, tuple(axes + [k for k in range(x.ndim) if k not in axes]))
    merged = tuple(x.shape[:at]) + (stride,) + tuple(x.shape[at + len(axes):])
    x = S.reshape(x, merged)
    if not _traced(flat):
        flat = _np.ascontiguousarray(flat, dtype=_np.int64)
    return I.gather(x, flat, at)


def take(a, indices, axis=None, out=None, mode="raise"):
    if out is not None or mode != "raise":
        raise UnsupportedOperationError("take supports only out=None and mode='raise'")
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axis(axis, a.ndim)
    return I.gather(a, _normalized(indices, a.shape[axis], axis), axis)


def take_along_axis(arr, indices, axis=-1):
    """Each 1-D slice along `axis` picks its own indices: a gather on the
    flattened array at index + (slice number) * length."""
    a = asarray(arr)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axis(axis, a.ndim)
    n = a.shape[axis]
    idx = _normalized(indices, n, axis)
    if len(idx.shape) != a.ndim:
        raise IndexOutOfBoundsError("take_along_axis: indices and arr must have the same number "
                                    "of dimensions")
    x, idx = moveaxis(a, axis, -1), moveaxis(idx, axis, -1)
    lead = _np.broadcast_shapes(tuple(x.shape[:-1]), tuple(idx.shape[:-1]))
    x = S.broadcast_to(x, lead + (n,))
    m = idx.shape[-1]
    idx = broadcast_to(idx, lead + (m,))
    rows = int(_np.prod(lead, dtype=_np.int64))
    offsets = (_np.arange(rows, dtype=_np.int64) * n).reshape(lead + (1,))
    picked = I.gather(ravel(x), add(idx, offsets), 0)
    return moveaxis(picked, -1, axis)


def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """A stable sort's permutation (numpy's default sort may order ties differently)."""
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    return I.argsort(a, _axis(axis, a.ndim))


def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    return take_along_axis(a, argsort(a, axis), axis)


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """A sorted array is a valid partition for every kth: numpy leaves the order
    inside the two parts unspecified, so this agrees with numpy at the kth
    positions, and every element lies on the right side of them."""
    return sort(a, axis)


def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    return argsort(a, axis)


def nonzero(a):
    if _traced(a):
        raise UnsupportedOperationError("nonzero of a traced value has a data-dependent shape")
    return _np.nonzero(a)


def flatnonzero(a):
    return nonzero(ravel(asarray(a)))[0]


__all__ = public_names(globals())

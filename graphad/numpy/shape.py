"""Shape functions: reshape, transposes, joins and splits, tiling, flips, pads,
diagonals. All are compositions of reshape, transpose, broadcast_to,
concatenate and strided slices (plus gather for repeat with per-element counts),
so their derivatives and backend lowerings come from those few primitives.
"""
from __future__ import annotations

import builtins
import math

import numpy as _np

from ..errors import ShapeError, UnsupportedOperationError
from ..prims import indexing as I
from ..prims import shape as S
from ..prims.core import normalize_axes
from ._base import _axis, _promote, _require_constant, asarray, public_names
from .elementwise import where


def shape(a):
    return tuple(asarray(a).shape)


def ndim(a):
    return asarray(a).ndim


def size(a, axis=None):
    s = asarray(a).shape
    return math.prod(s) if axis is None else s[axis]


def _resolve_shape(newshape, total):
    if isinstance(newshape, (int, _np.integer)):
        newshape = (newshape,)
    newshape = [int(d) for d in newshape]
    if newshape.count(-1) > 1:
        raise ShapeError("can only specify one unknown dimension (-1)")
    if -1 in newshape:
        known = math.prod(d for d in newshape if d != -1)
        if known == 0 or total % known:
            raise ShapeError(f"cannot reshape an array of size {total} into shape {tuple(newshape)}")
        newshape[newshape.index(-1)] = total // known
    return tuple(newshape)


def reshape(a, shape=None, order="C", *, newshape=None, copy=None):
    if order != "C":
        raise UnsupportedOperationError("reshape supports only order='C'")
    a = asarray(a)
    return S.reshape(a, _resolve_shape(newshape if shape is None else shape, size(a)))


def ravel(a, order="C"):
    return reshape(a, (-1,), order)


def transpose(a, axes=None):
    a = asarray(a)
    perm = tuple(reversed(range(a.ndim))) if axes is None else tuple(
        _axis(ax, a.ndim) for ax in axes)
    return S.transpose(a, perm)


permute_dims = transpose


def matrix_transpose(x):
    return swapaxes(x, -1, -2)


def moveaxis(a, source, destination):
    a = asarray(a)
    src = [_axis(s, a.ndim) for s in _np.atleast_1d(source)]
    dst = [_axis(d, a.ndim) for d in _np.atleast_1d(destination)]
    if len(src) != len(dst):
        raise ShapeError("moveaxis: `source` and `destination` must have the same number of elements")
    order = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return S.transpose(a, tuple(order))


def swapaxes(a, axis1, axis2):
    a = asarray(a)
    perm = list(range(a.ndim))
    i, j = _axis(axis1, a.ndim), _axis(axis2, a.ndim)
    perm[i], perm[j] = perm[j], perm[i]
    return S.transpose(a, tuple(perm))


def rollaxis(a, axis, start=0):
    a = asarray(a)
    n = a.ndim
    axis = _axis(axis, n)
    if not -n <= start <= n:
        raise ShapeError(f"rollaxis: start {start} is out of bounds for {n} dimensions")
    start = start % (n + 1) if start < 0 else start
    if axis < start:
        start -= 1
    if axis == start:
        return a
    order = [i for i in range(n) if i != axis]
    order.insert(start, axis)
    return S.transpose(a, tuple(order))


def expand_dims(a, axis):
    a = asarray(a)
    axes = normalize_axes(axis, a.ndim + len(_np.atleast_1d(axis)))
    dims = iter(a.shape)
    return S.reshape(a, tuple(1 if i in axes else next(dims) for i in range(a.ndim + len(axes))))


def squeeze(a, axis=None):
    a = asarray(a)
    axes = (tuple(i for i, d in enumerate(a.shape) if d == 1) if axis is None
            else normalize_axes(axis, a.ndim))
    for i in axes:
        if a.shape[i] != 1:
            raise ShapeError(f"cannot squeeze axis {i} of shape {a.shape}: its size is not 1")
    return S.reshape(a, tuple(d for i, d in enumerate(a.shape) if i not in axes))


def broadcast_to(a, shape):
    a = asarray(a)
    return S.broadcast_to(a, (shape,) if isinstance(shape, (int, _np.integer)) else tuple(shape))


def broadcast_arrays(*args):
    arrays = [asarray(a) for a in args]
    target = _np.broadcast_shapes(*[tuple(a.shape) for a in arrays])
    return tuple(S.broadcast_to(a, target) for a in arrays)


def _at_least(n, place):
    def f(*arys):
        out = []
        for a in arys:
            a = asarray(a)
            out.append(reshape(a, place(tuple(a.shape))) if a.ndim < n else a)
        return out[0] if len(out) == 1 else tuple(out)
    f.__name__ = f"atleast_{n}d"
    return f


atleast_1d = _at_least(1, lambda s: (1,))
atleast_2d = _at_least(2, lambda s: (1,) * (2 - len(s)) + s)
atleast_3d = _at_least(3, lambda s: {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)])


# ---- joining and splitting ------------------------------------------------------------

def concatenate(arrays, axis=0, out=None, dtype=None):
    if out is not None:
        raise UnsupportedOperationError("the `out=` argument is not supported: arrays are immutable")
    arrays = _promote(*arrays)
    if dtype is not None:
        arrays = [asarray(a, dtype) for a in arrays]
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    return S.concatenate(arrays, _axis(axis, arrays[0].ndim))


def stack(arrays, axis=0):
    arrays = _promote(*arrays)
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) != 1:
        raise ShapeError(f"all input arrays must have the same shape, got {sorted(shapes)}")
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


def hstack(tup):
    arrays = [atleast_1d(a) for a in tup]
    return concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1)


def vstack(tup):
    return concatenate([atleast_2d(a) for a in tup], axis=0)


row_stack = vstack


def dstack(tup):
    return concatenate([atleast_3d(a) for a in tup], axis=2)


def column_stack(tup):
    cols = []
    for a in tup:
        a = asarray(a)
        cols.append(reshape(a, (-1, 1)) if a.ndim < 2 else a)
    return concatenate(cols, axis=1)


def append(arr, values, axis=None):
    if axis is None:
        return concatenate([ravel(arr), ravel(values)])
    return concatenate([arr, values], axis=axis)


def _take_range(a, axis, start, stop, step=1):
    """a[..., start:stop:step, ...] along `axis` (Python slice semantics)."""
    start, stop, step = slice(start, stop, step).indices(a.shape[axis])
    count = len(range(start, stop, step))
    spec = [(0, 1, d) for d in a.shape]
    spec[axis] = (start if count else 0, step, count)
    return S.slice_(a, spec)


def _split(ary, indices_or_sections, axis, equal):
    a = asarray(ary)
    axis = _axis(axis, a.ndim)
    n = a.shape[axis]
    if isinstance(indices_or_sections, (int, _np.integer)):
        k = int(indices_or_sections)
        if k <= 0:
            raise ValueError("number sections must be larger than 0.")
        if equal and n % k:
            raise ValueError("array split does not result in an equal division")
        each, extra = builtins.divmod(n, k)
        sizes = [each + 1] * extra + [each] * (k - extra)
        bounds = [0] + [int(b) for b in _np.cumsum(sizes)]
    else:
        bounds = [0] + [int(i) for i in indices_or_sections] + [n]
    return [_take_range(a, axis, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]


def split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, equal=True)


def array_split(ary, indices_or_sections, axis=0):
    return _split(ary, indices_or_sections, axis, equal=False)


def hsplit(ary, indices_or_sections):
    a = asarray(ary)
    if a.ndim == 0:
        raise ValueError("hsplit only works on arrays of 1 or more dimensions")
    return split(a, indices_or_sections, axis=1 if a.ndim > 1 else 0)


def vsplit(ary, indices_or_sections):
    if asarray(ary).ndim < 2:
        raise ValueError("vsplit only works on arrays of 2 or more dimensions")
    return split(ary, indices_or_sections, axis=0)


def dsplit(ary, indices_or_sections):
    if asarray(ary).ndim < 3:
        raise ValueError("dsplit only works on arrays of 3 or more dimensions")
    return split(ary, indices_or_sections, axis=2)


def unstack(x, /, *, axis=0):
    x = asarray(x)
    axis = _axis(axis, x.ndim)
    return tuple(squeeze(_take_range(x, axis, i, i + 1), axis) for i in range(x.shape[axis]))


# ---- repeating, flipping, rolling, padding -----------------------------------------

def tile(A, reps):
    a = asarray(A)
    reps = tuple(int(r) for r in _np.atleast_1d(reps))
    d = builtins.max(len(reps), a.ndim)
    dims = (1,) * (d - a.ndim) + tuple(a.shape)
    reps = (1,) * (d - len(reps)) + reps
    # (s1, s2, ...) -> (1, s1, 1, s2, ...) -> (r1, s1, r2, s2, ...) -> (r1*s1, r2*s2, ...)
    pairs = lambda first, second: tuple(v for p in zip(first, second) for v in p)  # noqa: E731
    x = reshape(a, pairs((1,) * d, dims))
    x = S.broadcast_to(x, pairs(reps, dims))
    return reshape(x, tuple(r * s for r, s in zip(reps, dims)))


def repeat(a, repeats, axis=None):
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    axis = _axis(axis, a.ndim)
    counts = _require_constant(repeats, "repeat: the number of repetitions")
    n = a.shape[axis]
    if counts.size == 1:
        r = int(counts.reshape(()))
        x = expand_dims(a, axis + 1)
        x = S.broadcast_to(x, tuple(a.shape[:axis + 1]) + (r,) + tuple(a.shape[axis + 1:]))
        return reshape(x, tuple(a.shape[:axis]) + (n * r,) + tuple(a.shape[axis + 1:]))
    if counts.shape != (n,):
        raise ShapeError(f"repeat: {counts.shape[0]} counts for an axis of length {n}")
    return I.gather(a, _np.repeat(_np.arange(n), counts), axis)


def flip(m, axis=None):
    m = asarray(m)
    axes = normalize_axes(axis, m.ndim)
    return S.slice_(m, [(d - 1, -1, d) if i in axes and d else (0, 1, d)
                        for i, d in enumerate(m.shape)])


def fliplr(m):
    return flip(m, 1)


def flipud(m):
    return flip(m, 0)


def rot90(m, k=1, axes=(0, 1)):
    m = asarray(m)
    a0, a1 = _axis(axes[0], m.ndim), _axis(axes[1], m.ndim)
    if a0 == a1:
        raise ValueError("Axes must be different.")
    k %= 4
    if k == 0:
        return m
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(m.ndim))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(flip(m, a1), perm)
    return flip(transpose(m, perm), a1)


def roll(a, shift, axis=None):
    a = asarray(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), a.shape)
    for s, ax in _np.broadcast(shift, axis):
        ax = _axis(int(ax), a.ndim)
        n = a.shape[ax]
        s = int(s) % n if n else 0
        if s:
            a = S.concatenate([_take_range(a, ax, n - s, n), _take_range(a, ax, 0, n - s)], ax)
    return a


def _pad_blocks(a, axis, before, after, mode, value):
    n = a.shape[axis]
    with_len = lambda k: tuple(k if i == axis else d for i, d in enumerate(a.shape))  # noqa: E731
    if mode == "constant":
        lo, hi = _np.full(with_len(before), value[0], a.dtype), _np.full(with_len(after), value[1], a.dtype)
    elif mode == "edge":
        lo = S.broadcast_to(_take_range(a, axis, 0, 1), with_len(before))
        hi = S.broadcast_to(_take_range(a, axis, n - 1, n), with_len(after))
    elif mode == "wrap":
        lo, hi = _take_range(a, axis, n - before, n), _take_range(a, axis, 0, after)
    elif mode == "reflect":
        lo = flip(_take_range(a, axis, 1, before + 1), axis)
        hi = flip(_take_range(a, axis, n - 1 - after, n - 1), axis)
    else:   # symmetric
        lo = flip(_take_range(a, axis, 0, before), axis)
        hi = flip(_take_range(a, axis, n - after, n), axis)
    return [b for b, k in ((lo, before), (a, 1), (hi, after)) if k]


_PAD_LIMIT = {"constant": None, "edge": None, "wrap": 0, "symmetric": 0, "reflect": 1}


def pad(array, pad_width, mode="constant", **kwargs):
    a = asarray(array)
    if mode not in _PAD_LIMIT:
        raise UnsupportedOperationError(f"pad mode {mode!r} is not supported; use one of "
                                        + ", ".join(map(repr, _PAD_LIMIT)))
    widths = _np.broadcast_to(_np.asarray(pad_width, dtype=_np.int64), (a.ndim, 2))
    values = _np.broadcast_to(_np.asarray(kwargs.get("constant_values", 0)), (a.ndim, 2))
    for axis, (before, after) in enumerate(widths.tolist()):
        if before < 0 or after < 0:
            raise ValueError("index can't contain negative values")
        limit = _PAD_LIMIT[mode]
        if limit is not None and builtins.max(before, after) > a.shape[axis] - limit:
            raise UnsupportedOperationError(
                f"pad mode {mode!r}: a width of {builtins.max(before, after)} exceeds what one "
                f"copy of axis {axis} (length {a.shape[axis]}) provides")
        if before or after:
            a = S.concatenate(_pad_blocks(a, axis, before, after, mode, values[axis]), axis)
    return a


# ---- diagonals and triangles ----------------------------------------------------------

def diagonal(a, offset=0, axis1=0, axis2=1):
    """The diagonal as the last axis: a strided slice of the flattened matrices
    (element i sits at i * (m + 1) + offset for an n x m matrix)."""
    a = asarray(a)
    i, j = _axis(axis1, a.ndim), _axis(axis2, a.ndim)
    if i == j:
        raise ValueError("axis1 and axis2 cannot be the same")
    rest = [k for k in range(a.ndim) if k not in (i, j)]
    x = S.transpose(a, tuple(rest + [i, j]))
    n, m = a.shape[i], a.shape[j]
    lead = tuple(a.shape[k] for k in rest)
    k = int(offset)
    length = builtins.max(0, builtins.min(n, m - k) if k >= 0 else builtins.min(n + k, m))
    start = (k if k >= 0 else -k * m) if length else 0
    flat = S.reshape(x, lead + (n * m,))
    return S.slice_(flat, [(0, 1, d) for d in lead] + [(start, m + 1, length)])


def diag(v, k=0):
    v = asarray(v)
    if v.ndim == 2:
        return diagonal(v, k)
    if v.ndim != 1:
        raise ValueError("Input must be 1- or 2-d.")
    n, k = v.shape[0], int(k)
    size_ = n + builtins.abs(k)
    start = k if k >= 0 else -k * size_
    flat = S.scatter_slice(v, ((start if n else 0, size_ + 1, n),), (size_ * size_,))
    return S.reshape(flat, (size_, size_))


def diagflat(v, k=0):
    return diag(ravel(v), k)


def _triangle(m, keep):
    m = asarray(m)
    if m.ndim < 2:
        raise ValueError("tril/triu need an array of at least 2 dimensions")
    return where(keep(*m.shape[-2:]), m, _np.zeros((), m.dtype))


def tril(m, k=0):
    return _triangle(m, lambda n, c: _np.tri(n, c, k, dtype=bool))


def triu(m, k=0):
    return _triangle(m, lambda n, c: ~_np.tri(n, c, k - 1, dtype=bool))


__all__ = public_names(globals())

"""graphad.numpy: the numpy-compatible namespace (like autograd.numpy).

Each function takes numpy's arguments, applies numpy's dtype promotion (Python
scalars are weak: float32 * 2.0 stays float32) and expresses the result with
graphad's primitives, so it records into a graph when given tracers and
computes with numpy when given arrays. Functions that are not primitives are
written here as compositions (mean = sum / n, clip = min(max(...)), ...).
"""
from __future__ import annotations

import builtins
import math

import numpy as _np

from .errors import IndexOutOfBoundsError, ShapeError, UnsupportedOperationError
from .prims import elementwise as E
from .prims import linalg as L
from .prims import reductions as R
from .prims import shape as S
from .prims.core import normalize_axes

pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, None
float32, float64, int32, int64, bool_ = _np.float32, _np.float64, _np.int32, _np.int64, _np.bool_
ndarray = _np.ndarray


# ---- operands and promotion -------------------------------------------------------

def _traced(x) -> bool:
    return getattr(x, "_trace", None) is not None


def _is_python_scalar(x) -> bool:
    return isinstance(x, (bool, int, float)) and not isinstance(x, _np.generic)


def asarray(x, dtype=None):
    """A traced value unchanged (cast if `dtype`), anything else as a numpy array.
    Lists and tuples containing traced values are stacked."""
    if _traced(x):
        return E.convert(x, dtype) if dtype is not None else x
    if isinstance(x, (list, tuple)) and builtins.any(_traced(v) or isinstance(v, (list, tuple)) for v in x):
        if builtins.any(_contains_tracer(v) for v in x):
            return stack([asarray(v, dtype) for v in x])
    return _np.asarray(x, dtype=dtype)


array = asarray


def _contains_tracer(x):
    if _traced(x):
        return True
    return isinstance(x, (list, tuple)) and builtins.any(_contains_tracer(v) for v in x)


def _operand(x):
    """Python scalars stay as they are (weakly typed); everything else becomes an array."""
    return x if _is_python_scalar(x) or _traced(x) else asarray(x)


def result_type(*xs):
    return _np.result_type(*[x if _is_python_scalar(x) else x.dtype for x in xs])


def _cast(x, dtype):
    if _traced(x):
        return E.convert(x, dtype)
    return _np.asarray(x, dtype=dtype)


def _promote(*xs, to_float=False):
    xs = [_operand(x) for x in xs]
    dtype = result_type(*xs)
    if to_float and dtype.kind != "f":
        dtype = _np.dtype(_np.float64)
    return [_cast(x, dtype) for x in xs]


def _float(x):
    return _promote(x, to_float=True)[0]


# ---- elementwise ------------------------------------------------------------------

def _unary_float(op, name):
    def f(x):
        return op(_float(x))
    f.__name__ = name
    return f


def _binary(op, name, to_float=False):
    def f(x, y):
        return op(*_promote(x, y, to_float=to_float))
    f.__name__ = name
    return f


exp = _unary_float(E.exp, "exp")
log = _unary_float(E.log, "log")
log1p = _unary_float(E.log1p, "log1p")
expm1 = _unary_float(E.expm1, "expm1")
sin, cos, tan = (_unary_float(E.sin, "sin"), _unary_float(E.cos, "cos"), _unary_float(E.tan, "tan"))
sinh, cosh, tanh = (_unary_float(E.sinh, "sinh"), _unary_float(E.cosh, "cosh"),
                    _unary_float(E.tanh, "tanh"))
arcsin, arccos, arctan = (_unary_float(E.arcsin, "arcsin"), _unary_float(E.arccos, "arccos"),
                          _unary_float(E.arctan, "arctan"))
sqrt = _unary_float(E.sqrt, "sqrt")
reciprocal = _unary_float(E.reciprocal, "reciprocal")
sigmoid = expit = _unary_float(E.sigmoid, "sigmoid")
floor, ceil = _unary_float(E.floor, "floor"), _unary_float(E.ceil, "ceil")


def round(x, decimals=0):  # noqa: A001 - numpy's name
    if decimals:
        scale = 10.0 ** decimals
        return E.round_(_float(x) * scale) / scale
    return E.round_(_float(x))


around = rint = round


def negative(x):
    x = _operand(x)
    return E.neg(_promote(x)[0])


def positive(x):
    return _operand(x)


def square(x):
    return E.square(_promote(x)[0])


def absolute(x):
    return E.abs_(_promote(x)[0])


abs = fabs = absolute  # noqa: A001


def sign(x):
    return E.sign(_promote(x)[0])


def logical_not(x):
    return E.logical_not(_as_bool(x))


def _as_bool(x):
    x = _operand(x)
    if _is_python_scalar(x):
        return _np.asarray(x, bool)
    return x if x.dtype == _np.bool_ else not_equal(x, 0)


add = _binary(E.add, "add")
subtract = _binary(E.sub, "subtract")
multiply = _binary(E.mul, "multiply")
divide = true_divide = _binary(E.div, "divide", to_float=True)
maximum = _binary(E.maximum, "maximum")
minimum = _binary(E.minimum, "minimum")
arctan2 = _binary(E.arctan2, "arctan2", to_float=True)
equal = _binary(E.eq, "equal")
not_equal = _binary(E.ne, "not_equal")
less = _binary(E.lt, "less")
less_equal = _binary(E.le, "less_equal")
greater = _binary(E.gt, "greater")
greater_equal = _binary(E.ge, "greater_equal")


def power(x, y):
    return E.pow(*_promote(x, y))


def logical_and(x, y):
    return E.logical_and(_as_bool(x), _as_bool(y))


def logical_or(x, y):
    return E.logical_or(_as_bool(x), _as_bool(y))


def where(condition, x=None, y=None):
    if x is None or y is None:
        raise UnsupportedOperationError(
            "graphad.numpy.where with one argument (nonzero) has a data-dependent shape; "
            "use the three-argument form where(condition, x, y)")
    x, y = _promote(x, y)
    return E.select(_as_bool(condition), x, y)


def clip(a, a_min=None, a_max=None):
    if a_min is not None:
        a = maximum(a, a_min)
    if a_max is not None:
        a = minimum(a, a_max)
    return a


def stop_gradient(x):
    return E.stop_gradient(_operand(x)) if _traced(x) else _np.asarray(x)


def astype(x, dtype):
    return _cast(_operand(x), _np.dtype(dtype))


# ---- reductions -------------------------------------------------------------------

def _reduction_operand(a):
    a = asarray(a)
    return _cast(a, _np.int64) if a.dtype == _np.bool_ else a


def _keepdims(r, shape, axes, keepdims):
    return S.reshape(r, R._kept_shape(shape, axes)) if keepdims else r


def _check_out(out):
    if out is not None:
        raise UnsupportedOperationError("the `out=` argument is not supported: arrays are immutable")


def sum(a, axis=None, dtype=None, out=None, keepdims=False):  # noqa: A001
    _check_out(out)
    a = _reduction_operand(a) if dtype is None else _cast(asarray(a), dtype)
    axes = normalize_axes(axis, a.ndim)
    return _keepdims(R.reduce_sum(a, axes), a.shape, axes, keepdims)


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    _check_out(out)
    a = asarray(a)
    if a.dtype.kind != "f":
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


def prod(a, axis=None, dtype=None, out=None, keepdims=False):
    _check_out(out)
    a = _reduction_operand(a) if dtype is None else _cast(asarray(a), dtype)
    axes = normalize_axes(axis, a.ndim)
    return _keepdims(R.reduce_prod(a, axes), a.shape, axes, keepdims)


def logsumexp(a, axis=None, keepdims=False):
    a = _float(asarray(a))
    axes = normalize_axes(axis, a.ndim)
    r = R.logsumexp_p.bind(a, axes=axes) if axes else a
    return _keepdims(r, a.shape, axes, keepdims)


def _arg(prim, name):
    def f(a, axis=None):
        a = asarray(a)
        if axis is None:
            a, axis = ravel(a), 0
        return prim.bind(a, axis=normalize_axes(axis, a.ndim)[0])
    f.__name__ = name
    return f


argmax = _arg(R.argmax_p, "argmax")
argmin = _arg(R.argmin_p, "argmin")


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    _check_out(out)
    a = _float(asarray(a))
    axes = normalize_axes(axis, a.ndim)
    centered = a - mean(a, axis=axes, keepdims=True)
    n = math.prod(a.shape[i] for i in axes)
    return sum(centered * centered, axis=axes, keepdims=keepdims) / (n - ddof)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return sqrt(var(a, axis=axis, ddof=ddof, keepdims=keepdims))


# ---- shape ------------------------------------------------------------------------

def shape(a):
    return tuple(asarray(a).shape)


def ndim(a):
    return asarray(a).ndim


def size(a):
    return math.prod(asarray(a).shape)


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


def reshape(a, newshape, order="C"):
    if order != "C":
        raise UnsupportedOperationError("reshape supports only order='C'")
    a = asarray(a)
    return S.reshape(a, _resolve_shape(newshape, size(a)))


def ravel(a):
    return reshape(a, (-1,))


def transpose(a, axes=None):
    a = asarray(a)
    perm = tuple(reversed(range(a.ndim))) if axes is None else tuple(
        normalize_axes(ax, a.ndim)[0] for ax in axes)
    return S.transpose(a, perm)


def moveaxis(a, source, destination):
    a = asarray(a)
    src = [normalize_axes(s, a.ndim)[0] for s in _np.atleast_1d(source)]
    dst = [normalize_axes(d, a.ndim)[0] for d in _np.atleast_1d(destination)]
    order = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return S.transpose(a, tuple(order))


def swapaxes(a, axis1, axis2):
    a = asarray(a)
    perm = list(range(a.ndim))
    i, j = normalize_axes(axis1, a.ndim)[0], normalize_axes(axis2, a.ndim)[0]
    perm[i], perm[j] = perm[j], perm[i]
    return S.transpose(a, tuple(perm))


def expand_dims(a, axis):
    a = asarray(a)
    axes = normalize_axes(axis, a.ndim + len(_np.atleast_1d(axis)))
    dims = iter(a.shape)
    return S.reshape(a, tuple(1 if i in axes else next(dims) for i in range(a.ndim + len(axes))))


def squeeze(a, axis=None):
    a = asarray(a)
    axes = tuple(i for i, d in enumerate(a.shape) if d == 1) if axis is None else normalize_axes(axis, a.ndim)
    for i in axes:
        if a.shape[i] != 1:
            raise ShapeError(f"cannot squeeze axis {i} of shape {a.shape}: its size is not 1")
    return S.reshape(a, tuple(d for i, d in enumerate(a.shape) if i not in axes))


def broadcast_to(a, shape):
    a = asarray(a)
    return S.broadcast_to(a, tuple(shape))


def atleast_1d(a):
    a = asarray(a)
    return reshape(a, (1,)) if a.ndim == 0 else a


def atleast_2d(a):
    a = asarray(a)
    return reshape(a, (1,) * (2 - a.ndim) + a.shape) if a.ndim < 2 else a


def concatenate(arrays, axis=0):
    arrays = _promote(*arrays)
    if axis is None:
        arrays, axis = [ravel(a) for a in arrays], 0
    return S.concatenate(arrays, normalize_axes(axis, arrays[0].ndim)[0])


def stack(arrays, axis=0):
    arrays = _promote(*arrays)
    shapes = {tuple(a.shape) for a in arrays}
    if len(shapes) != 1:
        raise ShapeError(f"all input arrays must have the same shape, got {sorted(shapes)}")
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


def hstack(arrays):
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1)


def vstack(arrays):
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


# ---- indexing ---------------------------------------------------------------------

def getitem(a, index):
    """Basic indexing: ints, slices (any step), None and Ellipsis."""
    a = asarray(a)
    index = index if isinstance(index, tuple) else (index,)
    for ix in index:
        if not (ix is None or ix is Ellipsis or isinstance(ix, (slice, int, _np.integer))):
            raise UnsupportedOperationError(
                f"indexing with {type(ix).__name__} (advanced indexing) is not supported yet; "
                "use ints, slices, None and Ellipsis")
    n_real = builtins.sum(1 for ix in index if ix is not None and ix is not Ellipsis)
    if n_real > a.ndim:
        raise IndexOutOfBoundsError(f"too many indices for array: array is {a.ndim}-dimensional, "
                                    f"but {n_real} were indexed")
    if builtins.sum(1 for ix in index if ix is Ellipsis) > 1:
        raise IndexOutOfBoundsError("an index can only have a single ellipsis ('...')")
    expanded = []
    for ix in index:
        if ix is Ellipsis:
            expanded.extend([slice(None)] * (a.ndim - n_real))
        else:
            expanded.append(ix)
    expanded.extend([slice(None)] * (a.ndim - builtins.sum(1 for ix in expanded if ix is not None)))

    spec, out_shape, dim = [], [], 0
    for ix in expanded:
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


# ---- linear algebra ---------------------------------------------------------------

def _linalg_operands(a, b):
    a, b = _promote(a, b)
    if a.dtype == _np.bool_:
        a, b = _cast(a, _np.int64), _cast(b, _np.int64)
    return a, b


def matmul(a, b):
    a, b = _linalg_operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul: input operand does not have enough dimensions (use * for scalars)")
    if b.ndim <= 2:
        # a's leading axes and b's last axis are free: no batch broadcasting needed.
        return L.dot_general(a, b, ((a.ndim - 1,), (0,)))
    if a.ndim == 1:
        return L.dot_general(a, b, ((0,), (b.ndim - 2,)))
    batch = _np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = S.broadcast_to(a, batch + a.shape[-2:])
    b = S.broadcast_to(b, batch + b.shape[-2:])
    k = len(batch)
    return L.dot_general(a, b, ((k + 1,), (k,)), (tuple(range(k)), tuple(range(k))))


def dot(a, b):
    a, b = _linalg_operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    return L.dot_general(a, b, ((a.ndim - 1,), (builtins.max(b.ndim - 2, 0),)))


def vdot(a, b):
    return dot(ravel(a), ravel(b))


def inner(a, b):
    a, b = _linalg_operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    return L.dot_general(a, b, ((a.ndim - 1,), (b.ndim - 1,)))


def outer(a, b):
    a, b = _linalg_operands(a, b)
    return L.dot_general(ravel(a), ravel(b), ((), ()))


def tensordot(a, b, axes=2):
    a, b = _linalg_operands(a, b)
    if isinstance(axes, (int, _np.integer)):
        ca, cb = tuple(range(a.ndim - axes, a.ndim)), tuple(range(axes))
    else:
        ca, cb = (tuple(_np.atleast_1d(x)) for x in axes)
        ca = tuple(normalize_axes(i, a.ndim)[0] for i in ca)
        cb = tuple(normalize_axes(i, b.ndim)[0] for i in cb)
    return L.dot_general(a, b, (ca, cb))


# ---- creation (constants) ---------------------------------------------------------

zeros, ones, full, empty = _np.zeros, _np.ones, _np.full, _np.zeros
arange, linspace, eye, identity = _np.arange, _np.linspace, _np.eye, _np.identity


def zeros_like(a, dtype=None):
    return _np.zeros(shape(a), dtype or asarray(a).dtype)


def ones_like(a, dtype=None):
    return _np.ones(shape(a), dtype or asarray(a).dtype)


def full_like(a, fill_value, dtype=None):
    return _np.full(shape(a), fill_value, dtype or asarray(a).dtype)



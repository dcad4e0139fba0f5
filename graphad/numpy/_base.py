"""Operands and dtype promotion shared by every graphad.numpy module.

numpy's rules: Python scalars are weakly typed (float32 * 2.0 stays float32),
arrays promote by `numpy.result_type`. A value is "traced" when it has a
`_trace` (a graph tracer or an eager tape box); the primitives then record it.
"""
from __future__ import annotations

import builtins
import types

import numpy as _np

from ..errors import UnsupportedOperationError
from ..prims import elementwise as E
from ..prims.core import normalize_axes

pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, None
euler_gamma = _np.euler_gamma
float16, float32, float64 = _np.float16, _np.float32, _np.float64
int8, int16, int32, int64, uint8, bool_ = _np.int8, _np.int16, _np.int32, _np.int64, _np.uint8, _np.bool_
ndarray, dtype, finfo, iinfo = _np.ndarray, _np.dtype, _np.finfo, _np.iinfo
integer, floating, number, inexact, generic = (_np.integer, _np.floating, _np.number,
                                               _np.inexact, _np.generic)


def _traced(x) -> bool:
    return getattr(x, "_trace", None) is not None


def _is_python_scalar(x) -> bool:
    return isinstance(x, (bool, int, float)) and not isinstance(x, _np.generic)


def _contains_tracer(x):
    if _traced(x):
        return True
    return isinstance(x, (list, tuple)) and builtins.any(_contains_tracer(v) for v in x)


def asarray(x, dtype=None, order=None, copy=None):
    """A traced value unchanged (cast if `dtype`), anything else as a numpy array.
    Lists and tuples containing traced values are stacked."""
    if _traced(x):
        return _cast(x, dtype) if dtype is not None else x
    if isinstance(x, (list, tuple)) and _contains_tracer(x):
        from .shape import stack
        return stack([asarray(v, dtype) for v in x])
    return _np.asarray(x, dtype=dtype)


def array(x, dtype=None, copy=True, order="K", ndmin=0):
    a = asarray(x, dtype)
    if a.ndim < ndmin:
        from .shape import reshape
        a = reshape(a, (1,) * (ndmin - a.ndim) + tuple(a.shape))
    return a


def _operand(x):
    """Python scalars stay as they are (weakly typed); everything else becomes an array."""
    return x if _is_python_scalar(x) or _traced(x) else asarray(x)


def result_type(*xs):
    return _np.result_type(*[x if _is_python_scalar(x) or isinstance(x, (type, _np.dtype))
                             else x.dtype for x in xs])


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


def _axis(axis, ndim):
    """One axis, normalized to [0, ndim)."""
    return normalize_axes(axis, ndim)[0]


def _check_out(out):
    if out is not None:
        raise UnsupportedOperationError("the `out=` argument is not supported: arrays are immutable")


def _require_constant(x, what):
    if _traced(x):
        raise UnsupportedOperationError(
            f"{what} must be a constant (a numpy array or Python value), not a traced value: "
            "it decides the shape of the result, which must be known when tracing")
    return _np.asarray(x)


def _ours(value) -> bool:
    module = getattr(value, "__module__", None) or "numpy"     # constants have none
    return module.startswith(("numpy", "graphad.numpy"))


def public_names(namespace) -> list:
    """The names a graphad.numpy module exports: its own functions and numpy's
    constants and aliases; no _private names, modules or imported helpers."""
    return [n for n, v in namespace.items()
            if not n.startswith("_") and not isinstance(v, types.ModuleType) and _ours(v)
            and n not in ("annotations", "public_names")]


__all__ = public_names(globals())

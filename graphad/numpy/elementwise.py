"""Elementwise functions: numpy's real ufuncs, where, select, clip, casts.

Most are one primitive after promotion. The rest are compositions that
reproduce numpy's own formulas (remainder and floor_divide follow numpy's
divmod; sinc its `where(x == 0, 1e-20, x)` guard), so results agree with numpy
to the last bit or within an ulp, and their derivatives come from the parts.
"""
from __future__ import annotations

import math

import numpy as _np

from ..errors import UnsupportedOperationError
from ..prims import elementwise as E
from ._base import (_cast, _float, _is_python_scalar, _operand, _promote, _traced, public_names)


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


def _is_integral(x) -> bool:
    return not _is_python_scalar(x) and _np.dtype(x.dtype).kind in "iub"


exp, log, log1p, expm1 = (_unary_float(E.exp, "exp"), _unary_float(E.log, "log"),
                          _unary_float(E.log1p, "log1p"), _unary_float(E.expm1, "expm1"))
exp2, log2, log10 = (_unary_float(E.exp2, "exp2"), _unary_float(E.log2, "log2"),
                     _unary_float(E.log10, "log10"))
sin, cos, tan = (_unary_float(E.sin, "sin"), _unary_float(E.cos, "cos"), _unary_float(E.tan, "tan"))
sinh, cosh, tanh = (_unary_float(E.sinh, "sinh"), _unary_float(E.cosh, "cosh"),
                    _unary_float(E.tanh, "tanh"))
arcsin, arccos, arctan = (_unary_float(E.arcsin, "arcsin"), _unary_float(E.arccos, "arccos"),
                          _unary_float(E.arctan, "arctan"))
sqrt = _unary_float(E.sqrt, "sqrt")
reciprocal = _unary_float(E.reciprocal, "reciprocal")
sigmoid = expit = _unary_float(E.sigmoid, "sigmoid")


arcsinh, arccosh, arctanh = (_unary_float(E.arcsinh, "arcsinh"),
                             _unary_float(E.arccosh, "arccosh"), _unary_float(E.arctanh, "arctanh"))


def _rounding(op, name):
    # numpy keeps integer inputs integer: rounding them is the identity.
    def f(x):
        x = _operand(x)
        return x if _is_integral(x) else op(_float(x))
    f.__name__ = name
    return f


floor, ceil = _rounding(E.floor, "floor"), _rounding(E.ceil, "ceil")


def _trunc(x):
    return E.select(E.lt(x, E.zeros_of(x)), E.ceil(x), E.floor(x))


trunc = fix = _rounding(_trunc, "trunc")


def round(x, decimals=0):  # noqa: A001 - numpy's name
    x = _operand(x)
    if _is_integral(x):
        return x if decimals >= 0 else _cast(round(_float(x), decimals), x.dtype)
    if decimals:
        scale = 10.0 ** decimals
        return E.round_(_float(x) * scale) / scale
    return E.round_(_float(x))


around = round


def rint(x):
    return round(x)


def negative(x):
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


def _as_bool(x):
    x = _operand(x)
    if _is_python_scalar(x):
        return _np.asarray(x, bool)
    return x if x.dtype == _np.bool_ else not_equal(x, 0)


def logical_not(x):
    return E.logical_not(_as_bool(x))


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
fmod = _binary(E.fmod, "fmod")


def power(x, y):
    return E.pow(*_promote(x, y))


def float_power(x, y):
    return power(_cast(_operand(x), _np.float64), _cast(_operand(y), _np.float64))


def logical_and(x, y):
    return E.logical_and(_as_bool(x), _as_bool(y))


def logical_or(x, y):
    return E.logical_or(_as_bool(x), _as_bool(y))


def logical_xor(x, y):
    return E.ne(_as_bool(x), _as_bool(y))


# ---- compositions -------------------------------------------------------------------

def _floats(x, y):
    return _promote(x, y, to_float=True)


def logaddexp(x, y):
    # max + log1p(exp(-|x - y|)); d is taken as 0 at ties so that equal infinities
    # give that infinity (not inf - inf = nan), as numpy does.
    x, y = _floats(x, y)
    d = where(equal(x, y), 0.0, x - y)
    return maximum(x, y) + log1p(exp(-absolute(d)))


def logaddexp2(x, y):
    x, y = _floats(x, y)
    d = where(equal(x, y), 0.0, x - y)
    return maximum(x, y) + log1p(exp2(-absolute(d))) * (1 / math.log(2))


def hypot(x, y):
    # Scaled so that x*x cannot overflow: max * sqrt(1 + (min/max)**2).
    x, y = _floats(x, y)
    ax, ay = absolute(x), absolute(y)
    big, small = maximum(ax, ay), minimum(ax, ay)
    ratio = small / where(equal(big, 0.0), 1.0, big)
    return big * sqrt(1.0 + ratio * ratio)


def sinc(x):
    # numpy's own formula; the where makes the derivative at 0 exactly 0.
    x = _float(x)
    y = _np.pi * where(equal(x, 0), 1.0e-20, x)
    return sin(y) / y


def deg2rad(x):
    return _float(x) * (_np.pi / 180.0)


def rad2deg(x):
    return _float(x) * (180.0 / _np.pi)


radians, degrees = deg2rad, rad2deg


def isnan(x):
    # Written as "not (|x| <= inf)" rather than x != x, which a simplifier may fold.
    x = _operand(x)
    if _is_python_scalar(x):
        return _np.isnan(x)
    if _is_integral(x):
        return _falses(x)
    return E.logical_not(E.le(E.abs_(x), _np.asarray(_np.inf, x.dtype)))


def isinf(x):
    x = _operand(x)
    if _is_python_scalar(x):
        return _np.isinf(x)
    return _falses(x) if _is_integral(x) else E.eq(E.abs_(x), _np.asarray(_np.inf, x.dtype))


def isfinite(x):
    x = _operand(x)
    if _is_python_scalar(x):
        return _np.isfinite(x)
    if _is_integral(x):
        return E.logical_not(_falses(x))
    return E.lt(E.abs_(x), _np.asarray(_np.inf, x.dtype))


def _falses(x):
    return _np.zeros(x.shape, bool)


def fmax(x, y):
    x, y = _promote(x, y)
    if _is_integral(x):
        return maximum(x, y)
    return where(isnan(x), y, where(isnan(y), x, maximum(x, y)))


def fmin(x, y):
    x, y = _promote(x, y)
    if _is_integral(x):
        return minimum(x, y)
    return where(isnan(x), y, where(isnan(y), x, minimum(x, y)))


def remainder(x, y):
    # numpy's divmod: fmod, then move a remainder whose sign differs from y's by y.
    x, y = _promote(x, y)
    r = fmod(x, y)
    zero = _np.zeros((), r.dtype)
    wrong_sign = logical_and(not_equal(r, zero), not_equal(less(y, zero), less(r, zero)))
    return where(wrong_sign, r + y, r)


mod = remainder


def floor_divide(x, y):
    x, y = _promote(x, y)
    if _is_integral(x):   # exact through float64 for |x| < 2**53; numpy's x // 0 is 0
        y_safe = where(equal(y, 0), _np.ones((), y.dtype), y)
        q = _cast(floor_divide(_cast(x, _np.float64), _cast(y_safe, _np.float64)), x.dtype)
        return where(equal(y, 0), _np.zeros((), x.dtype), q)
    r = fmod(x, y)
    zero = _np.zeros((), r.dtype)
    div = (x - r) / y
    wrong_sign = logical_and(not_equal(r, zero), not_equal(less(y, zero), less(r, zero)))
    div = where(wrong_sign, div - 1, div)
    q = floor(div)
    q = where(greater(div - q, 0.5), q + 1, q)
    return where(equal(y, zero), x / y, q)


def divmod(x, y):  # noqa: A001
    return floor_divide(x, y), remainder(x, y)


def heaviside(x, h0):
    x, h0 = _promote(x, h0, to_float=True)
    return where(less(x, 0), 0.0, where(greater(x, 0), 1.0, h0))


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    x = _operand(x)
    if _is_python_scalar(x) or _is_integral(x):
        return _np.nan_to_num(x) if _is_python_scalar(x) else x
    info = _np.finfo(x.dtype)
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = where(isnan(x), _np.asarray(nan, x.dtype), x)
    inf = _np.asarray(_np.inf, x.dtype)
    return where(equal(x, inf), _np.asarray(posinf, x.dtype),
                 where(equal(x, -inf), _np.asarray(neginf, x.dtype), x))


def _real_only(x, name):
    x = _operand(x)
    if not _is_python_scalar(x) and _np.dtype(x.dtype).kind == "c":
        raise UnsupportedOperationError(f"graphad.numpy.{name}: complex arrays are not supported")
    return x


def real(x):
    return _real_only(x, "real")


def imag(x):
    x = _real_only(x, "imag")
    return _np.zeros(_np.shape(x) if _is_python_scalar(x) else x.shape,
                     float if _is_python_scalar(x) else x.dtype)


def conjugate(x):
    return _real_only(x, "conjugate")


conj = conjugate


def isreal(x):
    x = _real_only(x, "isreal")
    return _np.ones(() if _is_python_scalar(x) else x.shape, bool)


def iscomplexobj(x):
    return False


# ---- selection and casts ------------------------------------------------------------

def where(condition, x=None, y=None):
    if x is None and y is None:
        if _traced(condition):
            raise UnsupportedOperationError(
                "graphad.numpy.where(condition) with one argument returns the indices where "
                "condition holds, a data-dependent shape; use where(condition, x, y)")
        return _np.nonzero(condition)
    if x is None or y is None:
        raise UnsupportedOperationError("where takes one or three arguments")
    x, y = _promote(x, y)
    return E.select(_as_bool(condition), x, y)


def select(condlist, choicelist, default=0):
    """The first choice whose condition holds, else `default` (numpy.select)."""
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    out = _promote(*choicelist, default)
    result = out[-1]
    for cond, choice in reversed(list(zip(condlist, out[:-1]))):
        result = E.select(_as_bool(cond), choice, result)
    return result


_NO_VALUE = object()


def clip(a, a_min=_NO_VALUE, a_max=_NO_VALUE, out=None, *, min=_NO_VALUE, max=_NO_VALUE):  # noqa: A002
    lo = min if a_min is _NO_VALUE else a_min
    hi = max if a_max is _NO_VALUE else a_max
    if out is not None:
        raise UnsupportedOperationError("the `out=` argument is not supported: arrays are immutable")
    if lo is not _NO_VALUE and lo is not None:
        a = maximum(a, lo)
    if hi is not _NO_VALUE and hi is not None:
        a = minimum(a, hi)
    return a


def stop_gradient(x):
    return E.stop_gradient(_operand(x)) if _traced(x) else _np.asarray(x)


def astype(x, dtype, copy=True):
    return _cast(_operand(x), _np.dtype(dtype))


__all__ = public_names(globals())

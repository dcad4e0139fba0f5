"""Elementwise primitives: unary math, broadcasting binary ops, comparisons, select.

Binary primitives require equal dtypes (the `graphad.numpy` layer inserts casts
following numpy's promotion rules) and broadcast their shapes implicitly; the
reverse pass sums cotangents back over broadcast dimensions, so rules here
return cotangents in the output's shape.

A unary primitive is declared by its derivative `d(x, out)`: vjp is `g * d`
and jvp is `x_dot * d`, so each identity is written once.
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import TypeMismatchError
from ..ir import TensorType
from .core import Masked, Primitive, broadcast_shapes, require_same_dtype, same_type


def _bool_type(x: TensorType, **_) -> TensorType:
    return TensorType(x.shape, np.bool_)


def _unary(name, impl, derivative=None, *, vjp=None, jvp=None, infer=same_type):
    if derivative is not None:
        vjp = lambda g, x, *, out: (g * derivative(x, out),)          # noqa: E731
        jvp = lambda t, x, *, out: t[0] * derivative(x, out)          # noqa: E731
    return Primitive(name, infer=infer, impl=impl, vjp=vjp, jvp=jvp, kind="elementwise",
                     differentiable=vjp is not None)


def _sigmoid_impl(x):
    with np.errstate(over="ignore"):
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(np.result_type(x), copy=False)


neg_p = _unary("neg", np.negative, vjp=lambda g, x, *, out: (-g,), jvp=lambda t, x, *, out: -t[0])
exp_p = _unary("exp", np.exp, lambda x, out: out)
log_p = _unary("log", np.log, lambda x, out: reciprocal(x))
log1p_p = _unary("log1p", np.log1p, lambda x, out: reciprocal(1 + x))
# Base 2 and 10 are primitives: exp(x ln 2) and log(x) / ln 10 are off by ulps
# (log(1000) / ln 10 = 2.9999999999999996), which integer code notices.
exp2_p = _unary("exp2", np.exp2, lambda x, out: out * math.log(2))
log2_p = _unary("log2", np.log2, lambda x, out: reciprocal(x * math.log(2)))
log10_p = _unary("log10", np.log10, lambda x, out: reciprocal(x * math.log(10)))
expm1_p = _unary("expm1", np.expm1, lambda x, out: out + 1)
sin_p = _unary("sin", np.sin, lambda x, out: cos(x))
cos_p = _unary("cos", np.cos, lambda x, out: -sin(x))
tan_p = _unary("tan", np.tan, lambda x, out: 1 + out * out)
tanh_p = _unary("tanh", np.tanh, lambda x, out: 1 - out * out)
sinh_p = _unary("sinh", np.sinh, lambda x, out: cosh(x))
cosh_p = _unary("cosh", np.cosh, lambda x, out: sinh(x))
arcsin_p = _unary("arcsin", np.arcsin, lambda x, out: reciprocal(sqrt(1 - x * x)))
arccos_p = _unary("arccos", np.arccos, lambda x, out: -reciprocal(sqrt(1 - x * x)))
arctan_p = _unary("arctan", np.arctan, lambda x, out: reciprocal(1 + x * x))
arcsinh_p = _unary("arcsinh", np.arcsinh, lambda x, out: reciprocal(sqrt(x * x + 1)))
arccosh_p = _unary("arccosh", np.arccosh, lambda x, out: reciprocal(sqrt(x * x - 1)))
arctanh_p = _unary("arctanh", np.arctanh, lambda x, out: reciprocal(1 - x * x))
sqrt_p = _unary("sqrt", np.sqrt, lambda x, out: 0.5 * reciprocal(out))
square_p = _unary("square", np.square, lambda x, out: 2 * x)
abs_p = _unary("abs", np.abs, lambda x, out: sign(x))
reciprocal_p = _unary("reciprocal", lambda x: np.reciprocal(x), lambda x, out: -(out * out))
sigmoid_p = _unary("sigmoid", _sigmoid_impl, lambda x, out: out * (1 - out))
# Piecewise-constant functions: zero derivative everywhere they have one.
sign_p = _unary("sign", np.sign)
floor_p = _unary("floor", np.floor)
ceil_p = _unary("ceil", np.ceil)
round_p = _unary("round", np.round)
logical_not_p = _unary("logical_not", np.logical_not, infer=_bool_type)


def _binary_type(name):
    def infer(x: TensorType, y: TensorType, **_):
        dtype = require_same_dtype(name, x, y)
        return TensorType(broadcast_shapes(x.shape, y.shape), dtype)
    return infer


def _compare_type(name):
    def infer(x: TensorType, y: TensorType, **_):
        require_same_dtype(name, x, y)
        return TensorType(broadcast_shapes(x.shape, y.shape), np.bool_)
    return infer


def _binary(name, impl, x_bar, y_bar, jvp):
    """A broadcasting binary op; x_bar/y_bar give each operand's cotangent."""
    return Primitive(name, infer=_binary_type(name), impl=impl, vjp_parts=(x_bar, y_bar), jvp=jvp,
                     kind="elementwise")


def _compare(name, impl):
    return Primitive(name, infer=_compare_type(name), impl=impl, kind="elementwise",
                     differentiable=False)


def _tie_weight(x, y, strict):
    """1 where `strict(x, y)`, 0.5 at ties, 0 elsewhere: the even split at kinks."""
    w = convert(strict(x, y), x.dtype)
    return w + 0.5 * convert(eq(x, y), x.dtype)


def _pow_dx(x, y):
    """d/dx x**y = y * x**(y-1), taken as 0 where y == 0 (x**0 is constant; 0 * 0**-1
    would be NaN)."""
    y_zero = eq(y, zeros_of(y))
    return select(y_zero, zeros_of(x), y * pow(x, select(y_zero, ones_of(y), y - 1)))


def _pow_dy(x, out):
    """d/dy x**y = x**y * log(x), taken as 0 where x <= 0 (no real logarithm)."""
    return out * log(select(gt(x, zeros_of(x)), x, ones_of(x)))


add_p = _binary("add", np.add, lambda g, x, y, *, out: g, lambda g, x, y, *, out: g,
                lambda t, x, y, *, out: t[0] + t[1])
sub_p = _binary("sub", np.subtract, lambda g, x, y, *, out: g, lambda g, x, y, *, out: -g,
                lambda t, x, y, *, out: t[0] - t[1])
mul_p = _binary("mul", np.multiply, lambda g, x, y, *, out: g * y, lambda g, x, y, *, out: g * x,
                lambda t, x, y, *, out: t[0] * y + x * t[1])
div_p = _binary("div", np.divide, lambda g, x, y, *, out: g / y,
                lambda g, x, y, *, out: -(g * out) / y,
                lambda t, x, y, *, out: (t[0] - out * t[1]) / y)
pow_p = _binary("pow", np.power, lambda g, x, y, *, out: g * _pow_dx(x, y),
                lambda g, x, y, *, out: g * _pow_dy(x, out),
                lambda t, x, y, *, out: t[0] * _pow_dx(x, y) + t[1] * _pow_dy(x, out))
maximum_p = _binary(
    "maximum", np.maximum,
    lambda g, x, y, *, out: g * _tie_weight(x, y, gt), lambda g, x, y, *, out: g * _tie_weight(y, x, gt),
    lambda t, x, y, *, out: t[0] * _tie_weight(x, y, gt) + t[1] * _tie_weight(y, x, gt))
minimum_p = _binary(
    "minimum", np.minimum,
    lambda g, x, y, *, out: g * _tie_weight(x, y, lt), lambda g, x, y, *, out: g * _tie_weight(y, x, lt),
    lambda t, x, y, *, out: t[0] * _tie_weight(x, y, lt) + t[1] * _tie_weight(y, x, lt))
arctan2_p = _binary(
    "arctan2", np.arctan2,
    lambda g, y, x, *, out: g * x / (x * x + y * y), lambda g, y, x, *, out: -(g * y) / (x * x + y * y),
    lambda t, y, x, *, out: (t[0] * x - t[1] * y) / (x * x + y * y))


def _trunc(z):
    return select(lt(z, zeros_of(z)), ceil(z), floor(z))


# fmod(x, y) = x - trunc(x / y) * y, computed exactly (C fmod); remainder and
# floor_divide in graphad.numpy build on it the way numpy's divmod does.
fmod_p = _binary("fmod", np.fmod, lambda g, x, y, *, out: g,
                 lambda g, x, y, *, out: -(g * _trunc(x / y)),
                 lambda t, x, y, *, out: t[0] - t[1] * _trunc(x / y))

eq_p = _compare("eq", np.equal)
ne_p = _compare("ne", np.not_equal)
lt_p = _compare("lt", np.less)
le_p = _compare("le", np.less_equal)
gt_p = _compare("gt", np.greater)
ge_p = _compare("ge", np.greater_equal)


def _logical_type(name):
    def infer(x: TensorType, y: TensorType, **_):
        if x.dtype != np.bool_ or y.dtype != np.bool_:
            raise TypeMismatchError(f"{name} takes bool operands, got {x} and {y}")
        return TensorType(broadcast_shapes(x.shape, y.shape), np.bool_)
    return infer


logical_and_p = Primitive("logical_and", infer=_logical_type("logical_and"), impl=np.logical_and,
                          kind="elementwise", differentiable=False)
logical_or_p = Primitive("logical_or", infer=_logical_type("logical_or"), impl=np.logical_or,
                         kind="elementwise", differentiable=False)


def _select_type(c: TensorType, x: TensorType, y: TensorType, **_):
    if c.dtype != np.bool_:
        raise TypeMismatchError(f"select takes a bool condition, got {c}")
    dtype = require_same_dtype("select", x, y)
    return TensorType(broadcast_shapes(c.shape, x.shape, y.shape), dtype)


def _select_vjp(g, c, x, y, *, out):
    zero = zeros_of(g)
    return None, Masked(select(c, g, zero), c), Masked(select(c, zero, g), logical_not(c))


select_p = Primitive("select", infer=_select_type, impl=np.where, kind="elementwise",
                     vjp=_select_vjp, jvp=lambda t, c, x, y, *, out: select(c, t[1], t[2]))


def _convert_type(x: TensorType, *, dtype):
    return TensorType(x.shape, dtype)


def _convert_impl(x, *, dtype):
    return np.asarray(x).astype(dtype)


convert_p = Primitive(
    "convert", infer=_convert_type, impl=_convert_impl, kind="elementwise",
    vjp=lambda g, x, *, out, dtype: (convert(g, x.dtype) if np.dtype(x.dtype).kind == "f" else None,),
    jvp=lambda t, x, *, out, dtype: convert(t[0], dtype))

stop_gradient_p = Primitive("stop_gradient", infer=same_type, impl=lambda x: x,
                            kind="elementwise", differentiable=False)


# ---- the operations rules and graphad.numpy call --------------------------------

def _op(p):
    return lambda *args: p.bind(*args)


neg, exp, log, log1p, expm1 = map(_op, (neg_p, exp_p, log_p, log1p_p, expm1_p))
exp2, log2, log10 = map(_op, (exp2_p, log2_p, log10_p))
sin, cos, tan, tanh, sinh, cosh = map(_op, (sin_p, cos_p, tan_p, tanh_p, sinh_p, cosh_p))
arcsin, arccos, arctan, sqrt, square = map(_op, (arcsin_p, arccos_p, arctan_p, sqrt_p, square_p))
arcsinh, arccosh, arctanh = map(_op, (arcsinh_p, arccosh_p, arctanh_p))
abs_, sign, reciprocal, sigmoid = map(_op, (abs_p, sign_p, reciprocal_p, sigmoid_p))
floor, ceil, round_, logical_not = map(_op, (floor_p, ceil_p, round_p, logical_not_p))
add, sub, mul, div, pow = map(_op, (add_p, sub_p, mul_p, div_p, pow_p))
maximum, minimum, arctan2, fmod = map(_op, (maximum_p, minimum_p, arctan2_p, fmod_p))
eq, ne, lt, le, gt, ge = map(_op, (eq_p, ne_p, lt_p, le_p, gt_p, ge_p))
logical_and, logical_or, select = map(_op, (logical_and_p, logical_or_p, select_p))
stop_gradient = _op(stop_gradient_p)


def convert(x, dtype):
    dtype = np.dtype(dtype)
    if np.dtype(x.dtype) == dtype:
        return x
    return convert_p.bind(x, dtype=dtype)


def zeros_of(x):
    """A scalar zero of x's dtype (broadcasts against x)."""
    return np.zeros((), x.dtype)


def ones_of(x):
    return np.ones((), x.dtype)


UNARY = (neg_p, exp_p, log_p, log1p_p, expm1_p, exp2_p, log2_p, log10_p,
         sin_p, cos_p, tan_p, tanh_p, sinh_p, cosh_p, arcsin_p, arccos_p, arctan_p,
         arcsinh_p, arccosh_p, arctanh_p, sqrt_p, square_p, abs_p, reciprocal_p, sigmoid_p,
         sign_p, floor_p, ceil_p, round_p, logical_not_p)
BINARY = (add_p, sub_p, mul_p, div_p, pow_p, maximum_p, minimum_p, arctan2_p, fmod_p,
          eq_p, ne_p, lt_p, le_p, gt_p, ge_p, logical_and_p, logical_or_p)
PRIMITIVES = UNARY + BINARY + (select_p, convert_p, stop_gradient_p)

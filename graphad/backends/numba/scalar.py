"""Elementwise primitives as scalar Python expressions, one table row each.

A row is a template, or a dict of templates by dtype kind ("f" float,
"i" signed/unsigned integer, "b" bool) for primitives whose semantics differ
by kind. Placeholders: `{0}` `{1}` `{2}` the operands; `{zero}` `{one}` typed
literals of the first operand's dtype; `{t}` a prefix for temporaries. A
template with several lines defines temporaries on the first lines and ends
with the expression.

Transcendental functions go through a math table: `LIBM` calls the C library
(`math.exp`, ...), `INLINE` replaces some of them by graphad's own branch-free
implementations (vecmath.py) so the loops around them vectorize. Composite
templates name them as `{exp}`, `{log}`, ... and get the active table's entry.
"""
from __future__ import annotations

import math
import re

import numpy as np

LIBM = {
    "exp": "math.exp", "log": "math.log", "log1p": "math.log1p", "expm1": "math.expm1",
    "sin": "math.sin", "cos": "math.cos", "tan": "math.tan", "tanh": "math.tanh",
    "sinh": "math.sinh", "cosh": "math.cosh", "arcsin": "math.asin", "arccos": "math.acos",
    "arctan": "math.atan", "sqrt": "math.sqrt", "exp2": "np.exp2", "log2": "math.log2",
    "log10": "math.log10", "arcsinh": "math.asinh", "arccosh": "math.acosh",
    "arctanh": "math.atanh",
}
# graphad's own (vecmath.py); max error in float64, tests/test_vecmath.py: exp 1 ulp,
# expm1 2, log 1, log1p 2, tanh 3, sinh 3, cosh 3 against numpy; sin and cos 0.85, tan 2.5
# against long double (float32 computes in float64: <= 1 ulp of the correctly rounded float32 result)
INLINE = dict(LIBM, exp="exp_f64", expm1="expm1_f64", log="log_f64", log1p="log1p_f64",
              tanh="tanh_f64", sin="sin_f64", cos="cos_f64", tan="tan_f64", sinh="sinh_f64",
              cosh="cosh_f64")
# float32 operands: tanh in float32 arithmetic, 3 ulp of float32 (3.5x faster than tanh_f64 on
# a 128x256 float32 layer); the rest compute in float64 and round once.
INLINE_F32 = dict(INLINE, tanh="tanh_f32")

SCALAR = {
    **{name: f"{{{name}}}({{0}})" for name in LIBM},
    "neg": "-{0}",
    "square": "{0} * {0}",
    "abs": "abs({0})",
    "reciprocal": {"f": "{one} / {0}", "i": "ipow({0}, -1)"},
    # the oracle's stable form, with one division: a vector divide costs several multiplies
    "sigmoid": "{t}e = {exp}(-abs({0}))\n{t}r = {one} / ({one} + {t}e)\n"
               "{t}r if {0} >= {zero} else {t}e * {t}r",
    "sign": "{one} if {0} > {zero} else (-{one} if {0} < {zero} else {0})",
    "floor": {"f": "np.floor({0})", "i": "{0}", "b": "{0}"},
    "ceil": {"f": "np.ceil({0})", "i": "{0}", "b": "{0}"},
    "round": {"f": "np.rint({0})", "i": "{0}", "b": "{0}"},
    "logical_not": "not {0}",
    "add": {"f": "{0} + {1}", "i": "{0} + {1}", "b": "{0} or {1}"},
    "sub": "{0} - {1}",
    "mul": {"f": "{0} * {1}", "i": "{0} * {1}", "b": "{0} and {1}"},
    "div": "{0} / {1}",
    "pow": {"f": "{0} ** {1}", "i": "ipow({0}, {1})"},
    # numpy's rule: the first operand when it wins or is NaN, so NaN propagates
    "maximum": "{0} if {0} >= {1} or {0} != {0} else {1}",
    "minimum": "{0} if {0} <= {1} or {0} != {0} else {1}",
    "arctan2": "math.atan2({0}, {1})",
    "fmod": {"f": "np.fmod({0}, {1})", "i": "ifmod({0}, {1})"},
    "softplus": "({0} if {0} > {zero} else {zero}) + {log1p}({exp}(-abs({0})))",
    "eq": "{0} == {1}", "ne": "{0} != {1}", "lt": "{0} < {1}",
    "le": "{0} <= {1}", "gt": "{0} > {1}", "ge": "{0} >= {1}",
    "logical_and": "{0} and {1}",
    "logical_or": "{0} or {1}",
    "select": "{1} if {0} else {2}",
    "stop_gradient": "{0}",
    "convert": None,                  # depends on both dtypes: see `convert`
}


def kind(dtype) -> str:
    k = np.dtype(dtype).kind
    return {"f": "f", "i": "i", "u": "i", "b": "b"}.get(k, k)


def literal(value, dtype) -> str:
    """Python source for a scalar of `dtype` that Numba types as that dtype."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return "True" if value else "False"
    if dtype.kind == "f":
        v = float(value)
        text = ("math.nan" if math.isnan(v) else "math.inf" if v == math.inf
                else "-math.inf" if v == -math.inf else repr(v))
        return text if dtype == np.float64 else f"np.{dtype.name}({text})"
    if dtype.kind in "iu":
        return str(int(value)) if dtype == np.int64 else f"np.{dtype.name}({int(value)})"
    raise NotImplementedError(f"the numba backend has no scalars of dtype {dtype}")


def cast(expr: str, dtype) -> str:
    """`expr` converted to `dtype` (Numba widens small ints and float32 mixes)."""
    dtype = np.dtype(dtype)
    if dtype in (np.float64, np.int64):
        return expr
    if dtype == np.bool_:
        return f"bool({expr})"
    return f"np.{dtype.name}({expr})"


def convert(x: str, src, dst) -> str:
    if np.dtype(dst) == np.bool_:
        return f"{x} != {literal(0, src)}"
    return f"np.{np.dtype(dst).name}({x})"


_SIMPLE = re.compile(r"^(-?[\w.]+(\[[\w, ]*\])?|np\.\w+\([\w.+-]*\))$")


def paren(expr: str) -> str:
    return expr if _SIMPLE.match(expr) else f"({expr})"


def lower(node, operands, temp: str, table=INLINE):
    """(statements, expression) computing `node` from operand expressions; `table`
    names the math functions (LIBM or INLINE)."""
    name = node.prim.name
    in_dtype = node.inputs[-1].dtype if name == "select" else node.inputs[0].dtype
    if table is INLINE and in_dtype == np.float32:
        table = INLINE_F32
    if name == "convert":
        return [], convert(paren(operands[0]), in_dtype, node.out.dtype)
    template = SCALAR[name]
    if isinstance(template, dict):
        template = template.get(kind(in_dtype))
        if template is None:
            raise NotImplementedError(f"{name} on {np.dtype(in_dtype)}")
    *lines, expr = template.format(*map(paren, operands), t=temp, zero=literal(0, in_dtype),
                                   one=literal(1, in_dtype), **table).split("\n")
    return lines, cast(expr, node.out.dtype)

"""Jitted helpers the generated reductions call (reducers.py says where).

A float sum `s = s + v` in a loop is a chain LLVM may not reorder, so the whole
loop around it stays scalar, inline exp/sin included. `radd` is that add
compiled with reassociation allowed; LLVM inlines it and then splits the sum
across SIMD lanes. (Numba's inline="always" is not used: it re-lowers the
function at every call site and made compiles much slower.) The result then
depends on the order LLVM picks, which is fixed for a given build, not on the
thread count.

`fmax` / `fmin` are LLVM's `maximum` / `minimum`: NaN-propagating like numpy's
max, and unlike `v if v > m or v != v else m` a pattern the loop vectorizer
folds into packed max instructions. (Of two zeros of opposite sign they keep
+0.0 / -0.0, where numpy keeps either.)
"""
from __future__ import annotations

import math

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .vecmath import exp_f64

__all__ = ["fmax", "fmin", "lse_block", "radd"]


@njit(cache=True, fastmath={"reassoc"})
def radd(s, v):
    return s + v


def _extremum(name, int_predicate):
    def typer(typingctx, a, b):
        t = typingctx.unify_types(a, b)
        if not isinstance(t, (types.Float, types.Integer, types.Boolean)):
            return None

        def codegen(context, builder, sig, args):
            x, y = (context.cast(builder, v, f, t) for v, f in zip(args, sig.args))
            if isinstance(t, types.Float):
                ty = x.type
                fn = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(ty, [ty, ty]),
                    f"llvm.{name}.{'f64' if t.bitwidth == 64 else 'f32'}")
                return builder.call(fn, [x, y])
            signed = isinstance(t, types.Integer) and t.signed
            cmp = builder.icmp_signed if signed else builder.icmp_unsigned
            return builder.select(cmp(int_predicate, y, x), y, x)
        return t(a, b), codegen
    typer.__name__ = name
    return intrinsic(typer)


fmax = _extremum("maximum", ">")
fmin = _extremum("minimum", "<")


@njit(cache=True, error_model="numpy")
def lse_block(buf, n):
    """The log-sum-exp state (max, sum of exp(x - max)) of buf[:n]: two loops that
    vectorize. Ties with the maximum add 1 without evaluating inf - inf; a NaN makes both
    NaN; n == 0 gives (-inf, 0), which folds into any state as a no-op."""
    m = -math.inf
    for k in range(n):
        m = fmax(m, buf[k])
    s = 0.0
    for k in range(n):
        x = buf[k]
        s = radd(s, 1.0 if x == m else exp_f64(x - m))
    return m, s

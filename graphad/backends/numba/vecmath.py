"""Vectorizable transcendental functions for the generated kernels.

A call to libm inside a loop stops LLVM from vectorizing it, so a fused loop with
one exp runs scalar. These are straight-line arithmetic with selects (no branches,
no calls) and LLVM inlines them, so the loop around them vectorizes. (Not Numba's
inline="always": re-lowering them at every call site made a kernel with 100 of
them take 11 s to compile instead of 0.7 s.) They take and return
float64; float32 kernels compute in float64 and round once (in the tests, always
the correctly rounded float32). scalar.INLINE says which functions use them. Max
error against numpy, float64, over each whole domain (tests/test_vecmath.py):
exp 1 ulp, expm1 2, log 1, log1p 2, tanh 3, sin 2, cos 2; special values exact.

sin and cos are not in scalar.INLINE yet: their Cody-Waite reduction is exact only
for |x| <= SINCOS_MAX, and their libm fallback beyond it defeats the point. LLVM
widens `math.sin` to a vector intrinsic and evaluates it on every lane (34 ns per
element, slower than libm alone); a call it cannot widen keeps the loop scalar.
Wiring them needs a branch-free Payne-Hanek reduction for large |x|.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["cos_f64", "exp_f64", "expm1_f64", "log_f64", "log1p_f64", "sin_f64", "tanh_f64"]


@intrinsic
def _bits_to_float(typingctx, bits):
    """The float64 whose IEEE bits are the int64 `bits` (a bitcast, no conversion)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _float_to_bits(typingctx, x):
    """The IEEE bits of the float64 `x` as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01        # fdlibm's split of ln 2: hi has 32 bits
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
_MANTISSA = (1 << 52) - 1


@njit(cache=True, inline="always")
def _expm1_reduced(r):
    """exp(r) - 1 for |r| <= ln2/2: Taylor series to r**13 (remainder < 2e-17 relative)."""
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    return p * r


@njit(cache=True, error_model="numpy")    # LLVM inlines it: see above
def exp_f64(x):
    """exp(x) in float64 within about 1 ulp: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite),
    exp(r) by its Taylor series to r**13, times 2**n built from exponent bits in two
    halves (so results near overflow and in the subnormal range come out right)."""
    x = np.float64(x)
    xc = min(max(x, -746.0), 710.0)
    n = np.rint(xc * _LOG2E)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = np.int64(n)
    k1 = k >> 1
    k2 = k - k1
    y = p * _bits_to_float((k1 + 1023) << 52) * _bits_to_float((k2 + 1023) << 52)
    return y if x == x else x


@njit(cache=True, error_model="numpy")    # LLVM inlines it: see above
def expm1_f64(x):
    """exp(x) - 1 without cancellation near 0: with x = n ln2 + r as in exp_f64,
    expm1(x) = 2**n expm1(r) + (2**n - 1), where 2**n - 1 is exact for the n that
    matter (n > 56 leaves the -1 below half an ulp, n < -56 rounds to -1)."""
    x = np.float64(x)
    xc = min(max(x, -40.0), 710.0)              # expm1(-40) rounds to -1
    n = np.rint(xc * _LOG2E)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    q = _expm1_reduced(r)
    k = np.int64(n)
    k1 = k >> 1
    s1 = _bits_to_float((k1 + 1023) << 52)
    s2 = _bits_to_float((k - k1 + 1023) << 52)
    s = s1 * s2
    big = (q + 1.0) * s1 * s2                   # overflows to inf past ln(max float)
    mid = q * s + (s - 1.0)
    y = q if k == 0 else (big if k > 56 else mid)
    return x if (abs(x) < 5.551115123125783e-17 or x != x) else y   # keeps -0's sign


@njit(cache=True, error_model="numpy")    # LLVM inlines it: see above
def tanh_f64(x):
    """tanh(x) = e / (e + 2) with e = expm1(2|x|), sign restored; |x| >= 22 rounds to +-1
    and |x| < 2**-28 to x (the cubic term is below half an ulp there)."""
    x = np.float64(x)
    a = min(abs(x), 22.0)
    e = expm1_f64(a + a)
    t = e / (e + 2.0)
    y = -t if x < 0.0 else t
    return x if (abs(x) < 3.725290298461914e-09 or x != x) else y


@njit(cache=True, inline="always")
def _log1p_reduced(f, k, c):
    """k ln2 + log(1 + f) + c for |f| <= sqrt(2) - 1 (fdlibm's arrangement):
    log(1+f) = 2 atanh(s), s = f/(2+f), by its series in s**2 to s**22."""
    s = f / (2.0 + f)
    z = s * s
    p = 2.0 / 23.0
    p = p * z + 2.0 / 21.0
    p = p * z + 2.0 / 19.0
    p = p * z + 2.0 / 17.0
    p = p * z + 2.0 / 15.0
    p = p * z + 2.0 / 13.0
    p = p * z + 2.0 / 11.0
    p = p * z + 2.0 / 9.0
    p = p * z + 2.0 / 7.0
    p = p * z + 2.0 / 5.0
    p = p * z + 2.0 / 3.0
    big_r = p * z
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + big_r) + (k * _LN2_LO + c))) - f)


@njit(cache=True, inline="always")
def _split(u):
    """(k, m) with u = 2**k * m, sqrt(2)/2 <= m < sqrt(2), for normal positive u."""
    bits = _float_to_bits(u)
    m = _bits_to_float((bits & _MANTISSA) | (1023 << 52))
    k = np.float64((bits >> 52) - 1023)
    big = m > _SQRT2
    return (k + 1.0 if big else k), (m * 0.5 if big else m)


@njit(cache=True, error_model="numpy")    # LLVM inlines it: see above
def log_f64(x):
    """log(x) within about 1 ulp; subnormals are scaled by 2**54 first; log(0) = -inf,
    log(x < 0) = nan, log(inf) = inf."""
    x = np.float64(x)
    sub = x < 2.2250738585072014e-308
    u = x * 18014398509481984.0 if sub else x
    k, m = _split(u)
    y = _log1p_reduced(m - 1.0, k - 54.0 if sub else k, 0.0)
    special = -np.inf if x == 0.0 else (np.nan if x < 0.0 else x)
    return y if (x > 0.0 and x < np.inf) else special


@njit(cache=True, inline="always")     # too big for LLVM's inliner: Numba inlines it
def log1p_f64(x):
    """log(1 + x) within about 2 ulp: u = 1 + x rounded, log(u) as in log_f64 plus
    the rounding error of u to first order, c = (1 + x - u) / u (fdlibm's method)."""
    x = np.float64(x)
    u = 1.0 + x
    uc = u if u > 0.0 else 1.0                  # keep the bit tricks on a normal number
    k, m = _split(uc)
    c = (1.0 - (u - x) if k > 0.0 else x - (u - 1.0)) / uc
    c = 0.0 if k > 53.0 else c
    y = _log1p_reduced(m - 1.0, k, c)
    special = -np.inf if x == -1.0 else (np.nan if x < -1.0 else x)
    y = y if (x > -1.0 and x < np.inf) else special
    return x if abs(x) < 5.551115123125783e-17 else y   # also passes nan and -0


# pi/2 in 33-bit pieces (fdlibm's): n * piece is exact for |n| < 2**20, so
# x - n*(pi/2) loses nothing to cancellation while |x| < SINCOS_MAX.
_PIO2_1 = 1.57079632673412561417e+00
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_3 = 2.02226624871116645580e-21
_PIO2_3T = 8.47842766036889956997e-32
_TWO_OVER_PI = 0.6366197723675814
SINCOS_MAX = 1.6e6                  # beyond this sin_f64 and cos_f64 call libm


@njit(cache=True, inline="always")
def _sin_reduced(r, z):
    """sin(r) for |r| <= pi/4, z = r*r: Taylor series to r**17 (remainder < 1e-19)."""
    p = -1.0 / 355687428096000.0
    p = p * z + 1.0 / 1307674368000.0
    p = p * z - 1.0 / 6227020800.0
    p = p * z + 1.0 / 39916800.0
    p = p * z - 1.0 / 362880.0
    p = p * z + 1.0 / 5040.0
    p = p * z - 1.0 / 120.0
    p = p * z + 1.0 / 6.0
    return r - r * z * p


@njit(cache=True, inline="always")
def _cos_reduced(z):
    """cos(r) for |r| <= pi/4, z = r*r: 1 - z/2 + z**2 q(z), Taylor to r**18."""
    p = 1.0 / 6402373705728000.0
    p = p * z - 1.0 / 20922789888000.0
    p = p * z + 1.0 / 87178291200.0
    p = p * z - 1.0 / 479001600.0
    p = p * z + 1.0 / 3628800.0
    p = p * z - 1.0 / 40320.0
    p = p * z + 1.0 / 720.0
    p = p * z - 1.0 / 24.0
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + z * z * -p)


@njit(cache=True, inline="always")
def _quadrant(x):
    """(r, n mod 4) with x = n pi/2 + r, |r| <= pi/4 (Cody-Waite, 4 pieces of pi/2)."""
    n = np.rint(x * _TWO_OVER_PI)
    r = x - n * _PIO2_1
    r = r - n * _PIO2_2
    r = r - n * _PIO2_3
    r = r - n * _PIO2_3T
    return r, np.int64(n) & 3


@njit(cache=True, error_model="numpy")    # LLVM inlines it: see above
def sin_f64(x):
    """sin(x): quadrant and sin or cos of the remainder; libm past SINCOS_MAX (so not
    vectorized: see the module docstring). Inline part: 1.0 ns/element, 2 ulp."""
    x = np.float64(x)
    r, q = _quadrant(x)
    z = r * r
    s = _sin_reduced(r, z)
    c = _cos_reduced(z)
    y = np.float64(1 - (q & 2)) * (c if q & 1 else s)       # arithmetic, not a switch
    y = x if abs(x) < 3.725290298461914e-09 else y          # keeps -0's sign
    return y if abs(x) <= SINCOS_MAX else math.sin(x)        # also inf -> nan, nan


@njit(cache=True, error_model="numpy")    # LLVM inlines it: see above
def cos_f64(x):
    """cos(x): quadrant and cos or sin of the remainder; libm past SINCOS_MAX."""
    x = np.float64(x)
    r, q = _quadrant(x)
    z = r * r
    s = _sin_reduced(r, z)
    c = _cos_reduced(z)
    q = q + 1                                                 # cos x = sin(x + pi/2)
    y = np.float64(1 - (q & 2)) * (c if q & 1 else s)
    return y if abs(x) <= SINCOS_MAX else math.cos(x)

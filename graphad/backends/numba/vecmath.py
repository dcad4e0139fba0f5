"""Vectorizable transcendental functions for the generated kernels.

A call to libm inside a loop stops LLVM from vectorizing it, so a fused loop with
one exp runs scalar. These are straight-line arithmetic with selects (no branches,
no calls) and LLVM inlines them, so the loop around them vectorizes. The small ones
it inlines by itself; log1p, sin, cos, ... are past its size threshold and carry
Numba's forceinline=True, which marks them alwaysinline for LLVM. (Not Numba's
inline="always": re-lowering them at every call site made a kernel with 100 exps
take 11 s to compile instead of 0.7 s, and 20 log1p 9.4 s instead of 1.4 s.) They
take and return float64; float32 kernels compute in float64 and round once (in the
tests, always the correctly rounded float32), except tanh, which has a float32 twin,
tanh_f32 (3 ulp of float32; float32 lanes are twice as many and its division is
cheaper: a 128x256 float32 tanh layer 41.5 -> 11.7 us, numpy's 6.3 us). scalar.INLINE
says which functions use them. Max error over each whole domain
(tests/test_vecmath.py), against numpy: exp 1 ulp, expm1 2, log 1, log1p 2, tanh 3, sinh 3, cosh 3; against long double: sin
and cos 0.85 ulp, tan 2.5 (numpy's float64 sin: 0.52 on random arguments, but 1e5
near some multiples of pi/2, where ours stay correctly rounded); special values
exact. scalar.INLINE routes all of them into the generated kernels.

sin and cos reduce every argument by Payne-Hanek (see _reduce). Cody-Waite is exact
only for moderate |x|, and any fallback beyond it defeats the point: LLVM widens
`math.sin` and evaluates it on every lane (34 ns per element); computing both
reductions and selecting costs more than Payne-Hanek alone. Its table comes by four
gathers, about a third of the time. Loops that do not vectorize (in Numba, those that
sum floats) pay for the branch-free code: there sin and cos cost more than libm's
(W1-1e6's fused gradient loop: 17.7 ms against 10.8 ms with libm's sin and cos).
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["cos_f64", "cosh_f64", "exp_f64", "expm1_f64", "log_f64", "log1p_f64", "sin_f64",
           "sincos_f64", "sinh_f64", "tan_f64", "tanh_f32", "tanh_f64"]


@intrinsic
def _bits_to_float(typingctx, bits):
    """The float64 whose IEEE bits are the int64 `bits` (a bitcast, no conversion)."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _bits_to_float32(typingctx, bits):
    """The float32 whose IEEE bits are the int32 `bits`."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())
    return types.float32(types.int32), codegen


@intrinsic
def _float_to_bits(typingctx, x):
    """The IEEE bits of the float64 `x` as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma: one instruction where the CPU has FMA, a libm
    call, slow and scalar, where it has not)."""
    def codegen(context, builder, signature, args):
        return builder.fma(*args)
    return types.float64(types.float64, types.float64, types.float64), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01        # fdlibm's split of ln 2: hi has 32 bits
_LN2_LO = 1.90821492927058770002e-10
_SQRT2 = 1.4142135623730951
_MANTISSA = (1 << 52) - 1


@njit(cache=True, inline="always")
def _horner(x, coeffs):
    """coeffs[0] x**(n-1) + ... + coeffs[-1], by Horner's rule (multiply, then add)."""
    p = coeffs[0]
    for c in coeffs[1:]:
        p = p * x + c
    return p


@njit(cache=True, inline="always")
def _horner_fma(x, coeffs):
    """As _horner, each step one fused multiply-add."""
    p = coeffs[0]
    for c in coeffs[1:]:
        p = _fma(p, x, c)
    return p


_EXPM1_TAYLOR = tuple(1.0 / math.factorial(k) for k in range(13, 0, -1))    # 1/13! .. 1/1!


@njit(cache=True, inline="always")
def _expm1_reduced(r):
    """exp(r) - 1 for |r| <= ln2/2: Taylor series to r**13 (remainder < 2e-17 relative)."""
    return _horner(r, _EXPM1_TAYLOR) * r


@njit(cache=True, error_model="numpy")    # LLVM inlines it: see above
def exp_f64(x):
    """exp(x) in float64 within about 1 ulp: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite),
    exp(r) by its Taylor series to r**13, times 2**n built from exponent bits in two
    halves (so results near overflow and in the subnormal range come out right)."""
    x = np.float64(x)
    xc = min(max(x, -746.0), 710.0)
    n = np.rint(xc * _LOG2E)
    r = (xc - n * _LN2_HI) - n * _LN2_LO
    p = _expm1_reduced(r) + 1.0
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


# float32 constants (globals keep their numpy dtype in Numba, so the arithmetic stays float32).
_F32_LOG2E = np.float32(_LOG2E)
_F32_LN2_HI = np.float32(0.693145751953125)     # ln 2 to 16 bits: n * hi is exact for |n| < 2**8
_F32_LN2_LO = np.float32(math.log(2) - 0.693145751953125)
_F32_TAYLOR = tuple(np.float32(1 / math.factorial(k)) for k in range(7, 1, -1))   # 1/7! .. 1/2!
_F32_ONE, _F32_TWO, _F32_ZERO = np.float32(1), np.float32(2), np.float32(0)
_F32_TANH_CLAMP = np.float32(9.5)               # tanh rounds to 1 in float32 from 13 ln2 = 9.01
_F32_TANH_HALF = np.float32(0.55)               # past it tanh > 1/2: 1 - 2 / (e + 2) is exact-er
_F32_TANH_TINY = np.float32(2.0 ** -12)         # tanh x = x below: x**3/3 under half an ulp


@njit(cache=True, error_model="numpy")    # LLVM inlines it: see above
def tanh_f32(x):
    """tanh of a float32 in float32 arithmetic: twice the SIMD lanes of tanh_f64 and a
    float32 division (W3's 128x256 tanh layers). e / (e + 2), or 1 - 2 / (e + 2) where
    e + 2 rounds away digits of e, with e = expm1(2|x|): 2|x| = n ln2 + r, |r| <= ln2/2,
    expm1(r) by its Taylor series to r**7 (the rest is under 1.3e-8 relative, a fifth of
    an ulp) and e = 2**n expm1(r) + (2**n - 1)."""
    x = np.float32(x)
    a = min(abs(x), _F32_TANH_CLAMP)
    t = a + a
    n = np.rint(t * _F32_LOG2E)
    r = (t - n * _F32_LN2_HI) - n * _F32_LN2_LO
    q = (_horner(r, _F32_TAYLOR) * r + _F32_ONE) * r
    s = _bits_to_float32((np.int32(n) + np.int32(127)) << np.int32(23))
    e = q * s + (s - _F32_ONE)
    d = e + _F32_TWO
    y = _F32_ONE - _F32_TWO / d if a > _F32_TANH_HALF else e / d
    y = -y if x < _F32_ZERO else y
    return x if (a < _F32_TANH_TINY or x != x) else y


@njit(cache=True, error_model="numpy", forceinline=True)
def sinh_f64(x):
    """sinh(x), fdlibm's way: with t = expm1(|x|), (2t - t**2/(t+1))/2 below 1 and
    (t + t/(t+1))/2 below 22; past 22 exp(|x|)/2, as (w/2) w with w = exp(|x|/2) past
    709 where exp(|x|) overflows first; sinh x = x below 2**-28 (keeps -0's sign)."""
    x = np.float64(x)
    a = abs(x)
    t = expm1_f64(min(a, 22.0))
    u = t / (t + 1.0)
    mid = 0.5 * (2.0 * t - t * u) if a < 1.0 else 0.5 * (t + u)
    huge = a > 709.0
    w = exp_f64(0.5 * a if huge else a)
    y = mid if a < 22.0 else ((0.5 * w) * w if huge else 0.5 * w)
    y = -y if x < 0.0 else y
    return x if (abs(x) < 3.725290298461914e-09 or x != x) else y


@njit(cache=True, error_model="numpy", forceinline=True)
def cosh_f64(x):
    """cosh(x), fdlibm's way: 1 + t**2/(2(1+t)) with t = expm1(|x|) below ln2/2, else
    (e + 1/e)/2 with e = exp(|x|), as (w/2) w with w = exp(|x|/2) past 709."""
    x = np.float64(x)
    a = abs(x)
    t = expm1_f64(min(a, 0.5))
    small = 1.0 + (t * t) / (2.0 * (1.0 + t))
    huge = a > 709.0
    e = exp_f64(0.5 * a if huge else a)
    y = small if a < 0.34657359027997264 else ((0.5 * e) * e if huge else 0.5 * e + 0.5 / e)
    return y if x == x else x


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


@njit(cache=True, error_model="numpy", forceinline=True)    # too big for LLVM to inline unasked
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


# sin, cos: x = n pi/2 + r by Payne-Hanek for every finite x. With x = m 2**e, m a
# 53-bit integer, the bits of 2/pi of weight above 2**(1-e) add multiples of 4 to
# x 2/pi only; four 53-bit windows from there on reach 2**-(e+210), so the truncation
# costs under 2**-156, nothing even for the worst double (6381956970095103 * 2**797,
# 4.7e-19 from a multiple of pi/2). Each exponent e gets a row of those windows.
_E_MIN, _E_MAX = -79, 971     # below: |x| < 2**-27, where sin and tan return x, cos 1


def _two_over_pi(bits):
    """floor(2/pi 2**bits), from pi by Machin's formula in integers with 64 guard bits."""
    g = bits + 64

    def arctan_inv(k):                          # atan(1/k) 2**g, within a few units
        total, power, i = 0, (1 << g) // k, 0
        while power:
            total += (-1) ** i * (power // (2 * i + 1))
            power //= k * k
            i += 1
        return total
    pi = 16 * arctan_inv(5) - 4 * arctan_inv(239)
    return ((1 << (bits + 1 + g + 64)) // pi) >> 64


def _windows():
    """Row e - _E_MIN holds c_j = w_j 2**(-51-53j), j = 0..3, where w_j is the 53-bit
    integer of the bits of 2/pi of weights 2**-(e-1+53j) .. 2**-(e+51+53j); then
    x 2/pi = m sum_j c_j up to multiples of 4 and 2**-156, every c_j a normal double."""
    last = _E_MAX + 51 + 3 * 53                 # the last bit used has weight 2**-last
    t = _two_over_pi(last)

    def window(low):                            # bits of weights 2**-(low-52) .. 2**-low
        return (t >> (last - low)) & ((1 << 53) - 1) if low >= 0 else 0
    return np.array([[math.ldexp(window(e + 51 + 53 * j), -51 - 53 * j) for j in range(4)]
                     for e in range(_E_MIN, _E_MAX + 1)])


_WINDOWS = _windows()
_PIO2_HI = 1.5707963267948966               # pi/2 = _PIO2_HI + _PIO2_LO to 2**-107
_PIO2_LO = 6.123233995736766e-17


@njit(cache=True, inline="always")
def _reduce(x):
    """(rh, rl, n mod 4) with x = n pi/2 + rh + rl, |rh + rl| <= pi/4 + 2**-49, for finite
    |x| >= 2**-27 (smaller x get a rough remainder); rh + rl is the exact remainder to
    2**-95 relative even on the hardest arguments (tests/test_vecmath.py), and
    |rl| <= ulp(rh)."""
    e = min(max(((_float_to_bits(x) >> 52) & 0x7FF) - 1075, _E_MIN), _E_MAX)
    m = x * _bits_to_float((1023 - e) << 52)                 # the signed integer mantissa
    row = e - _E_MIN
    c0, c1, c2, c3 = _WINDOWS[row, 0], _WINDOWS[row, 1], _WINDOWS[row, 2], _WINDOWS[row, 3]
    # m c_j = p_j + q_j exactly (FMA); |m c_0| < 2**55, |m c_1| < 4, |m c_2| < 2**-51
    p0 = m * c0
    q0 = _fma(m, c0, -p0)
    p1 = m * c1
    q1 = _fma(m, c1, -p1)
    p2 = m * c2
    q2 = _fma(m, c2, -p2)
    # p0, q0 are multiples of 2**-51: their fractions and p1's, cut to that grid (g_hi),
    # add up exactly once the integer parts are out
    n0 = np.rint(p0)
    n1 = np.rint(q0)
    n2 = np.rint(p1)
    g = p1 - n2
    g_hi = (g + 3.0) - 3.0
    a = (p0 - n0) + (q0 - n1) + g_hi
    n3 = np.rint(a)
    a = a - n3
    # then the rest, at most 2**-50, with error-free sums (fast two-sum: a is 0 or larger)
    b = (g - g_hi) + q1                                      # exact: multiples of 2**-104
    s = a + b
    e1 = b - (s - a)
    f = s + p2
    v = f - s
    e2 = (s - (f - v)) + (p2 - v)
    fl = e1 + e2 + (q2 + m * c3)
    rh = f * _PIO2_HI
    rl = _fma(f, _PIO2_HI, -rh) + _fma(fl, _PIO2_HI, f * _PIO2_LO)
    n = (np.int64(n0) + np.int64(n1 + n2 + n3)) & 3
    return rh, rl, n


# sin r = r - r z p(z), cos r = 1 - z/2 + z**2 q(z) with z = r**2: p's coefficients
# 1/3!, -1/5!, ... 1/17! and q's 1/4!, -1/6!, ... 1/16!, highest power first
_SIN_TAYLOR = tuple((-1) ** ((k - 3) // 2) / math.factorial(k) for k in range(17, 1, -2))
_COS_TAYLOR = tuple((-1) ** (k // 2) / math.factorial(k) for k in range(16, 2, -2))


@njit(cache=True, inline="always")
def _sin_cos(rh, rl):
    """(sin, cos) of rh + rl for |rh| <= pi/4 + 2**-49, |rl| <= ulp(rh): Taylor series,
    sin to r**17 and cos to r**16 (remainders below 2**-58 relative), rl to first order."""
    z = rh * rh
    p = _horner_fma(z, _SIN_TAYLOR)
    s = rh + _fma(rl, _fma(-0.5, z, 1.0), -(rh * z) * p)
    q = _horner_fma(z, _COS_TAYLOR)
    hz = 0.5 * z
    w = 1.0 - hz
    c = w + (((1.0 - w) - hz) + _fma(z * z, q, -rh * rl))    # 1 - z/2 without its rounding
    return s, c


@njit(cache=True, inline="always")
def _finite(x):
    """x, or 0 for inf and nan (whose results are selected away), so that the reduction
    converts only small finite numbers to integers."""
    return x if abs(x) < np.inf else 0.0


@njit(cache=True, error_model="numpy", forceinline=True)
def _sin_cos_quadrant(x):
    """(sin r, cos r, n mod 4) with x = n pi/2 + r, compiled once for sin, cos, tan.
    (sin x and cos x in one loop share it only where no store comes between them: LLVM
    cannot rule out that the loop stores into the table, which a linkonce_odr constant
    would fix but stops vectorization. sincos_f64 computes it once for both.)"""
    rh, rl, n = _reduce(_finite(x))
    s, c = _sin_cos(rh, rl)
    return s, c, n


@njit(cache=True, inline="always")
def _sin_in_quadrant(s, c, n):
    """sin(n pi/2 + r) from s = sin r, c = cos r: arithmetic, not a switch."""
    return np.float64(1 - (n & 2)) * (c if n & 1 else s)


@njit(cache=True, error_model="numpy", forceinline=True)
def sin_f64(x):
    """sin(x) within 0.85 ulp on all doubles: sin or cos of the remainder by quadrant;
    sin x = x below 2**-26 (keeps -0's sign), nan for inf and nan."""
    x = np.float64(x)
    s, c, n = _sin_cos_quadrant(x)
    y = _sin_in_quadrant(s, c, n)
    y = x if abs(x) < 1.4901161193847656e-08 else y
    return y if abs(x) < np.inf else x - x


@njit(cache=True, error_model="numpy", forceinline=True)
def cos_f64(x):
    """cos(x) as sin(x + pi/2), as accurate as sin_f64; nan for inf and nan."""
    x = np.float64(x)
    s, c, n = _sin_cos_quadrant(x)
    y = _sin_in_quadrant(s, c, n + 1)
    return y if abs(x) < np.inf else x - x


@njit(cache=True, error_model="numpy", forceinline=True)
def sincos_f64(x):
    """(sin_f64(x), cos_f64(x)), bit for bit, from one reduction: the generated kernels
    call it when a region takes sin and cos of the same value (W1's gradient)."""
    x = np.float64(x)
    s, c, n = _sin_cos_quadrant(x)
    sy = _sin_in_quadrant(s, c, n)
    sy = x if abs(x) < 1.4901161193847656e-08 else sy
    cy = _sin_in_quadrant(s, c, n + 1)
    finite = abs(x) < np.inf
    return (sy if finite else x - x), (cy if finite else x - x)


@njit(cache=True, error_model="numpy", forceinline=True)
def tan_f64(x):
    """tan(x): sin r / cos r in even quadrants, -cos r / sin r in odd ones (one
    division); tan x = x below 2**-27 (keeps -0's sign), nan for inf and nan."""
    x = np.float64(x)
    s, c, n = _sin_cos_quadrant(x)
    odd = (n & 1) == 1
    y = (-c if odd else s) / (s if odd else c)
    y = x if abs(x) < 7.450580596923828e-09 else y
    return y if abs(x) < np.inf else x - x

"""graphad's inline math (backends/numba/vecmath.py) against numpy, ulp by ulp.

Each function runs in one small Numba loop (compiled for float64 and float32) over
dense random samples across all binades of its domain plus the special values and
thresholds; the loop must vectorize, since that is the point of these functions.
sin and cos are held to a tighter bound against x87 long double (numpy's own float64
sin is 1e5 ulp off on some arguments), over ranges and the hardest arguments.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

import graphad
import graphad.numpy as gnp
from graphad.backends.numba import scalar, vecmath
from graphad.backends.numba.codegen import generate

TINY, SUB = 2.2250738585072014e-308, 5e-324
# exact: +-0 (sign too), +-inf, nan; then thresholds, which the ulp bound covers (a
# finite result where numpy gives inf or nan, or the reverse, counts as infinitely wrong)
EXACT = [0.0, -0.0, np.inf, -np.inf, np.nan]
SPECIAL = EXACT + [SUB, -SUB, TINY, -TINY, 1e-310, -1e-310,
           2.0 ** -54, -(2.0 ** -54), 1.0, -1.0, 0.5, -0.5, 22.0, -22.0, 40.0, -40.0,
           709.78, 709.79, 710.0, -745.1, -745.2, -746.0, 1e300, -1e300, 1.7976931348623157e308]


def binades(rng, lo, hi, n, signed=True):
    """n samples, uniform in the mantissa, with exponents uniform in [lo, hi)."""
    x = rng.uniform(1.0, 2.0, n) * 2.0 ** rng.integers(lo, hi, n).astype(np.float64)
    return x * rng.choice([-1.0, 1.0], n) if signed else x


def domain(name, rng, n=100_000):
    pos = binades(rng, -1074, 1024, n, signed=False)
    parts = {
        "exp": [rng.uniform(-750, 720, n), binades(rng, -1074, 10, n)],
        "expm1": [rng.uniform(-50, 710, n), binades(rng, -1074, 10, n)],
        "tanh": [rng.uniform(-25, 25, n), binades(rng, -1074, 6, n)],
        "sinh": [rng.uniform(-720, 720, n), rng.uniform(-2, 2, n), binades(rng, -1074, 10, n)],
        "sin": [rng.uniform(-10, 10, n), binades(rng, -1074, 21, n), binades(rng, 21, 1024, n)],
        "log": [pos, rng.uniform(0, 3, n), 1 + binades(rng, -60, -1, n), -pos[:100]],
        "log1p": [pos, rng.uniform(-1, 3, n), -binades(rng, -1074, 0, n, signed=False),
                  -1 + binades(rng, -53, -1, n, signed=False), -1 - pos[:100]],
    }[name]
    return np.concatenate(parts + [np.array(SPECIAL)])


ULP = {"exp": 1, "expm1": 2, "log": 1, "log1p": 2, "tanh": 3,   # as documented in vecmath.py
       "sin": 2, "cos": 2,                  # numpy's: 1 ulp off where sin_f64 is right
       "tan": 3, "sinh": 3, "cosh": 3}
FUNCS = {"exp": (vecmath.exp_f64, np.exp), "expm1": (vecmath.expm1_f64, np.expm1),
         "log": (vecmath.log_f64, np.log), "log1p": (vecmath.log1p_f64, np.log1p),
         "tanh": (vecmath.tanh_f64, np.tanh),
         "sin": (vecmath.sin_f64, np.sin), "cos": (vecmath.cos_f64, np.cos),
         "tan": (vecmath.tan_f64, np.tan),
         "sinh": (vecmath.sinh_f64, np.sinh), "cosh": (vecmath.cosh_f64, np.cosh)}
NOT_WIRED = set()                       # functions written but not in scalar.INLINE yet
DOMAIN = {"cos": "sin", "tan": "sin", "cosh": "sinh"}


def loop(f):
    @njit(error_model="numpy")    # as the generated kernels: no ZeroDivisionError checks
    def apply(x, out):
        for i in range(x.size):
            out[i] = f(x[i])
    return apply


def ulps(got, want):
    """|got - want| in units of want's last place (0 where both agree, nan included)."""
    unit = np.spacing(np.abs(want.astype(got.dtype)))        # in got's own precision
    got, want = got.astype(np.float64), want.astype(np.float64)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(invalid="ignore"):
        err = np.abs(got - want) / unit.astype(np.float64)
    return np.where(same, 0.0, err)


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_ulp_error_special_values_and_vectorization(name):
    mine, ref = FUNCS[name]
    apply = loop(mine)
    x = domain(DOMAIN.get(name, name), np.random.default_rng(9))
    with np.errstate(all="ignore"):
        want = ref(x)
        out = np.empty_like(x)
        apply(x, out)
        err = ulps(out, want)
        assert err.max() <= ULP[name], f"{name}({x[err.argmax()]!r}): {err.max()} ulp"
        # special values exactly, the sign of zero included
        got, exact = out[-len(SPECIAL):][:len(EXACT)], ref(np.array(EXACT))
        np.testing.assert_array_equal(got, exact)
        assert (np.signbit(got) == np.signbit(exact))[~np.isnan(exact)].all(), got
        # float32 computes in float64 and rounds once: within 1 ulp of the exact result
        x32 = x.astype(np.float32)
        out32 = np.empty_like(x32)
        apply(x32, out32)
        want32 = ref(x32.astype(np.float64)).astype(np.float32)
        err32 = ulps(out32, want32)
        assert err32.max() <= 1, f"{name}(float32 {x32[err32.argmax()]!r}): {err32.max()} ulp"
    for sig, ir in apply.inspect_llvm().items():
        width = "double" if sig[0].dtype.bitwidth == 64 else "float"
        assert f"x {width}>" in ir, f"{name} loop did not vectorize for {sig}"


def test_float32_tanh_in_float32_arithmetic():
    # tanh_f32: within 3 ulp of the correctly rounded float32 tanh over every binade,
    # the saturation threshold (13 ln2 = 9.01) and the formula switch at 0.55 densely;
    # special values exact; the loop vectorizes on float lanes
    rng = np.random.default_rng(11)
    x = np.concatenate([binades(rng, -149, 5, 200_000), rng.uniform(-12, 12, 200_000),
                        np.linspace(8.9, 9.2, 20_001), np.linspace(0.5, 0.6, 20_001),
                        np.array(SPECIAL[:5] + [1e-45, -1e-45, 1.2e-38, 3e38, -3e38])])
    x = x.astype(np.float32)
    apply = loop(vecmath.tanh_f32)
    out = np.empty_like(x)
    apply(x, out)
    want = np.tanh(x.astype(np.float64)).astype(np.float32)
    err = ulps(out, want)
    assert err.max() <= 3, f"tanh_f32({x[err.argmax()]!r}): {err.max()} ulp"
    exact = np.array(EXACT, np.float32)
    got = np.empty_like(exact)
    apply(exact, got)
    np.testing.assert_array_equal(got, np.tanh(exact))
    assert np.signbit(got[1]) and not np.signbit(got[0])
    assert out.dtype == np.float32 and "x float>" in next(iter(apply.inspect_llvm().values()))
    src = generate(graphad.inspect(graphad.compile(gnp.tanh), x[:64]).fused).source
    assert "tanh_f32(" in src and "tanh_f64(" not in src
    src = generate(graphad.inspect(graphad.compile(gnp.tanh), x[:64].astype(np.float64))
                   .fused).source
    assert "tanh_f64(" in src and "tanh_f32(" not in src


def test_kernels_use_the_inline_math_and_agree_with_numpy():
    assert all(scalar.INLINE[n] == f.__name__ for n, (f, _) in FUNCS.items() if n not in NOT_WIRED)
    assert all(scalar.INLINE[n] == scalar.LIBM[n] for n in NOT_WIRED)

    def f(x):
        return (gnp.tanh(x) + gnp.log1p(gnp.abs(x)) + gnp.log(x * x) + gnp.expm1(x)
                + gnp.sigmoid(x) * gnp.exp(x) + gnp.sin(x) * gnp.cos(x))
    x = np.array([-np.inf, -800.0, -30.0, -1.5, -1e-300, -0.0, 0.0, 1e-9, 0.3, 2.0, 700.0,
                  np.inf, np.nan])
    compiled = graphad.compile(f, backend="numba")
    src = generate(graphad.inspect(compiled, x).fused).source
    assert all(name in src for name in ("tanh_f64", "log1p_f64", "log_f64", "expm1_f64",
                                        "sincos_f64"))
    with np.errstate(all="ignore"):
        want = (np.tanh(x) + np.log1p(np.abs(x)) + np.log(x * x) + np.expm1(x)
                + 1 / (1 + np.exp(-x)) * np.exp(x) + np.sin(x) * np.cos(x))
        np.testing.assert_allclose(compiled(x), want, rtol=1e-14)


def test_sigmoid_through_the_backend():
    """sigmoid is a template over the inline exp (scalar.SCALAR): ulp-close to the oracle."""
    from graphad.backends.numpy import evaluate
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform(-750, 750, 100_000), binades(rng, -1074, 10, 100_000),
                        np.array(SPECIAL)])
    compiled = graphad.compile(gnp.sigmoid, backend="numba")
    with np.errstate(all="ignore"):
        want = evaluate(graphad.inspect(compiled, x).traced, [x])[0]
        got = compiled(x)
        err = ulps(got, want)
    assert err.max() <= 2, f"sigmoid({x[err.argmax()]!r}): {err.max()} ulp"
    np.testing.assert_array_equal(got[-len(SPECIAL):][:len(EXACT)], [0.5, 0.5, 1.0, 0.0, np.nan])
    assert "exp_f64" in generate(graphad.inspect(compiled, x).fused).source


# ---- sin, cos, tan against long double -------------------------------------------------

LONG_DOUBLE = np.finfo(np.longdouble).nmant >= 63        # x87 extended: sinl to 2**-64


def hard_cases(exponents, bits=1250):
    """For each exponent e, an x = m 2**e (m 53 bits) close to a multiple of pi/2: m a
    multiple of the last continued-fraction denominator below 2**53 of 2**e 2/pi."""
    t = vecmath._two_over_pi(bits)
    out = []
    for e in exponents:
        num, den = t, 1 << (bits - e)
        q0, q1, best = 1, 0, 1
        while den:
            a = num // den
            q0, q1 = q1, a * q1 + q0
            if q1 >= 1 << 53:
                break
            best = q1
            num, den = den, num - a * den
        m = best * -(-(1 << 52) // best)
        if m < 1 << 53:
            out.append(math.ldexp(m, e))
    return np.array(out)


def sin_cos_ranges():
    rng = np.random.default_rng(3)
    n = 50_000
    pio2 = np.arctan(np.longdouble(1)) * 2
    k = rng.integers(1, 1 << 40, n).astype(np.longdouble)     # k pi/2 good to 2**-22
    near = (k * pio2).astype(np.float64)
    near = np.concatenate([near, np.nextafter(near, np.inf), np.nextafter(near, -np.inf)])
    worst = 6381956970095103 * 2.0 ** 797                  # 4.7e-19 from a multiple of pi/2
    return {
        "[-pi, pi]": rng.uniform(-np.pi, np.pi, n),
        "[-1e5, 1e5]": rng.uniform(-1e5, 1e5, n),
        "to 1e22": binades(rng, -30, 74, n),
        "to 1.7e308": binades(rng, -1074, 1024, n),
        "near k pi/2": np.concatenate([near, [worst, -worst]]),
        "hardest per exponent": np.concatenate([hard_cases(range(-52, 972)), [-worst]]),
        "special": np.array(SPECIAL),
    }


@pytest.mark.skipif(not LONG_DOUBLE, reason="needs an extended long double as reference")
@pytest.mark.parametrize("name, bound", [("sin", 0.85), ("cos", 0.85), ("tan", 2.5)])
def test_sin_cos_tan_against_long_double(name, bound):
    """Error in ulps of the float64 result, measured against the long double one (good
    to 2**-11 ulp); on 2e6 random arguments at most 0.82 (sin, cos) and 2.2 (tan), where
    correctly rounded would be 0.5."""
    mine, ref = FUNCS[name]
    apply = loop(mine)
    worst = {}
    for label, x in sin_cos_ranges().items():
        out = np.empty_like(x)
        apply(x, out)
        with np.errstate(invalid="ignore"):
            want = ref(x.astype(np.longdouble))
            unit = np.spacing(np.abs(want.astype(np.float64))).astype(np.longdouble)
            err = np.where(np.isnan(want) & np.isnan(out), 0, np.abs(out - want) / unit)
        worst[label] = float(err.max())
        assert worst[label] <= bound, (label, x[err.argmax()], worst)


@njit(error_model="numpy")
def sincos_loop(x, s, c):
    for i in range(x.size):
        s[i], c[i] = vecmath.sincos_f64(x[i])


def test_sincos_is_sin_and_cos_bit_for_bit():
    """sincos_f64 shares the reduction but must give exactly sin_f64 and cos_f64, so their
    bounds and special values carry over; checked here too: against numpy over sin's
    domain (specials exact, float32 within 1 ulp), against long double where available,
    and the loop must vectorize."""
    ranges = dict(sin_cos_ranges(), domain=domain("sin", np.random.default_rng(9)))
    for label, x in ranges.items():
        for dtype in (np.float64, np.float32) if label == "domain" else (np.float64,):
            with np.errstate(over="ignore"):
                xd = x.astype(dtype)
            s, c, s1, c1 = (np.empty_like(xd) for _ in range(4))
            sincos_loop(xd, s, c)
            loop(vecmath.sin_f64)(xd, s1)
            loop(vecmath.cos_f64)(xd, c1)
            for got, want in ((s, s1), (c, c1)):
                np.testing.assert_array_equal(got, want, err_msg=label)
                assert (np.signbit(got) == np.signbit(want)).all(), label
            with np.errstate(all="ignore"):
                for got, ref in ((s, np.sin), (c, np.cos)):
                    want = ref(xd.astype(np.float64)).astype(dtype)
                    bound = (1 if dtype == np.float32 else 2) if label == "domain" else 0.85
                    if label != "domain" and LONG_DOUBLE:
                        want = ref(xd.astype(np.longdouble))
                        unit = np.spacing(np.abs(want.astype(np.float64))).astype(np.longdouble)
                        err = np.where(np.isnan(want) & np.isnan(got), 0, np.abs(got - want) / unit)
                    else:
                        err = ulps(got, want) if label == "domain" else np.zeros(1)
                    assert err.max() <= bound, (label, ref.__name__, x[err.argmax()])
    tail = ranges["domain"][-len(SPECIAL):][:len(EXACT)]
    s, c = np.empty_like(tail), np.empty_like(tail)
    sincos_loop(tail, s, c)
    np.testing.assert_array_equal(s, [0.0, -0.0, np.nan, np.nan, np.nan])
    np.testing.assert_array_equal(np.signbit(s[:2]), [False, True])
    np.testing.assert_array_equal(c, [1.0, 1.0, np.nan, np.nan, np.nan])
    for sig, ir in sincos_loop.inspect_llvm().items():
        width = "double" if sig[0].dtype.bitwidth == 64 else "float"
        assert f"x {width}>" in ir, f"sincos loop did not vectorize for {sig}"


def test_kernel_computes_sin_and_cos_of_one_value_by_one_sincos():
    """sin(z) and cos(z) in one region: one sincos_f64 line under both equations (one
    reduction even where a store between them keeps LLVM from sharing the two);
    libm's table keeps math.sin and math.cos."""
    from graphad.backends.numba.codegen import Options

    def f(x):
        z = 2.0 * x + 1.0
        s = gnp.sin(z)
        return s, gnp.sum(s * gnp.cos(z)), gnp.cos(x)
    x = np.concatenate([np.linspace(-30.0, 30.0, 999), [1e300]])
    compiled = graphad.compile(f, backend="numba")
    fused = graphad.inspect(compiled, x).fused
    src = generate(fused).source
    assert src.count("sincos_f64(") == 1 and "sin_f64(" not in src, src
    assert src.count("cos_f64(") == 2, src                  # cos(x) alone stays cos_f64
    lines = [line.strip() for line in src.splitlines()]
    k = next(i for i, line in enumerate(lines) if "sincos_f64(" in line)
    assert lines[k - 2].split("= ")[1].startswith("sin ") and lines[k - 1].split("= ")[1].startswith("cos ")
    libm = generate(fused, Options(libm=True)).source
    assert "sincos_f64" not in libm and "math.sin(" in libm and "math.cos(" in libm
    z = 2.0 * x + 1.0
    got, want = compiled(x), (np.sin(z), np.sum(np.sin(z) * np.cos(z)), np.cos(x))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


def test_hard_cases_include_the_worst_double():
    assert hard_cases([797])[0] == 6381956970095103 * 2.0 ** 797


def test_reduction_on_the_hardest_arguments():
    """x = n pi/2 + rh + rl: n mod 4 right and rh + rl the remainder to 2**-95 relative,
    against mpmath's pi, where the remainder is as small as 4.7e-19."""
    mpmath = pytest.importorskip("mpmath")

    @njit(error_model="numpy")
    def reduce(x, rh, rl, n):
        for i in range(x.size):
            rh[i], rl[i], n[i] = vecmath._reduce(x[i])
    x = hard_cases(range(-52, 972, 3))
    x = np.concatenate([x, -x])
    rh, rl, n = np.empty_like(x), np.empty_like(x), np.empty(x.size, np.int64)
    reduce(x, rh, rl, n)
    with mpmath.workprec(1200):
        pio2 = mpmath.pi / 2
        for xi, hi, lo, ni in zip(x, rh, rl, n):
            k = mpmath.nint(mpmath.mpf(xi) / pio2)
            r = mpmath.mpf(xi) - k * pio2
            assert int(k) % 4 == ni and abs(hi) <= np.pi / 4 + 1e-15, xi
            assert abs(mpmath.mpf(hi) + mpmath.mpf(lo) - r) <= abs(r) * 2.0 ** -95, xi


def test_two_over_pi_bits():
    """The table's source, 2/pi from Machin's formula, against mpmath's pi."""
    mpmath = pytest.importorskip("mpmath")
    bits = vecmath._E_MAX + 51 + 3 * 53                     # as many as the table uses
    with mpmath.workprec(bits + 64):
        want = int(mpmath.floor(2 / mpmath.pi * mpmath.mpf(2) ** bits))
    assert vecmath._two_over_pi(bits) == want
    row = vecmath._WINDOWS[-vecmath._E_MIN]                 # e = 0: bits 2**1 .. 2**-210
    assert sum(int(math.ldexp(c, 51 + 53 * j)) << (53 * (3 - j))
               for j, c in enumerate(row)) == want >> (bits - 210)

"""graphad's inline math (backends/numba/vecmath.py) against numpy and libm.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_vecmath.py            # both
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_vecmath.py --functions
    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_vecmath.py --workloads W3 W6

Functions: ns/element over 1e6 elements, float64 and float32, of numpy's ufunc, a
plain Numba loop calling libm (`math.tanh`, ...) and the same loop calling graphad's
inline version; plus the inline version's max ulp error against numpy on those
inputs (the whole-domain bounds are asserted in tests/test_vecmath.py). Then sin_f64
and cos_f64 of the same x, each stored, against sincos_f64's one reduction.

Workloads: each gradient compiled four times by the Numba backend, with every
function on libm, with only exp inline (the backend before vecmath grew), with
the inline table but sin and cos on libm (before they joined it), and with the
current inline table; interleaved rounds, medians.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys

import numpy as np
from numba import njit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import graphad                                   # noqa: E402
from graphad.backends.numba import scalar, vecmath  # noqa: E402
from graphad.bench.workloads import BY_NAME      # noqa: E402
from bench_backend import _fmt, interleaved       # noqa: E402

N = 1_000_000
# name: (numpy ufunc, libm function, graphad's, input range)
FUNCS = {
    "exp": (np.exp, math.exp, vecmath.exp_f64, (-20.0, 20.0)),
    "expm1": (np.expm1, math.expm1, vecmath.expm1_f64, (-5.0, 5.0)),
    "log": (np.log, math.log, vecmath.log_f64, (1e-3, 1e3)),
    "log1p": (np.log1p, math.log1p, vecmath.log1p_f64, (-0.9, 10.0)),
    "tanh": (np.tanh, math.tanh, vecmath.tanh_f64, (-5.0, 5.0)),
    "sin": (np.sin, math.sin, vecmath.sin_f64, (-10.0, 10.0)),
    "cos": (np.cos, math.cos, vecmath.cos_f64, (-10.0, 10.0)),
    "sin 1e300": (np.sin, math.sin, vecmath.sin_f64, (-1e300, 1e300)),   # libm's slow path
    "tan": (np.tan, math.tan, vecmath.tan_f64, (-10.0, 10.0)),          # not wired yet
    "sinh": (np.sinh, math.sinh, vecmath.sinh_f64, (-5.0, 5.0)),        # not wired yet
    "cosh": (np.cosh, math.cosh, vecmath.cosh_f64, (-5.0, 5.0)),        # not wired yet
}


def loop(f):
    @njit(error_model="numpy")                  # as the generated kernels
    def apply(x, out):
        for i in range(x.size):
            out[i] = f(x[i])
    return apply


def max_ulp(got, want):
    unit = np.spacing(np.abs(want)).astype(np.float64)
    return float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)) / unit))


def functions(rounds):
    print(f"ns/element over {N:,} elements, median of {rounds} interleaved rounds")
    print(f"{'':9} {'dtype':8} {'numpy':>7} {'libm':>7} {'inline':>7}  libm/inline  "
          f"inline/numpy  max ulp vs numpy")
    for name, (ufunc, libm, mine, (lo, hi)) in FUNCS.items():
        lib_loop, my_loop = loop(libm), loop(mine)
        for dtype in (np.float64, np.float32) if hi < 1e38 else (np.float64,):
            x = np.random.default_rng(0).uniform(lo, hi, N).astype(dtype)
            out = np.empty_like(x)
            lib_loop(x, out)
            my_loop(x, out)
            t = interleaved({"numpy": lambda: ufunc(x, out=out), "libm": lambda: lib_loop(x, out),
                             "inline": lambda: my_loop(x, out)}, rounds)
            ns = {k: v / N * 1e9 for k, v in t.items()}
            my_loop(x, out)
            err = max_ulp(out, ufunc(x))
            print(f"{name:9} {np.dtype(dtype).name:8} {ns['numpy']:7.2f} {ns['libm']:7.2f} "
                  f"{ns['inline']:7.2f}  {ns['libm'] / ns['inline']:10.1f}x  "
                  f"{ns['inline'] / ns['numpy']:11.2f}x  {err:.0f}", flush=True)


@njit(error_model="numpy")
def _sin_and_cos(x, s, c):
    for i in range(x.size):
        s[i] = vecmath.sin_f64(x[i])
        c[i] = vecmath.cos_f64(x[i])             # the store above keeps the reductions apart


@njit(error_model="numpy")
def _sincos(x, s, c):
    for i in range(x.size):
        s[i], c[i] = vecmath.sincos_f64(x[i])


def sincos(rounds):
    """sin_f64 and cos_f64 of the same x against sincos_f64's one reduction."""
    x = np.random.default_rng(0).uniform(-10.0, 10.0, N)
    s, c = np.empty_like(x), np.empty_like(x)
    _sin_and_cos(x, s, c)
    _sincos(x, s, c)
    t = interleaved({"sin, cos": lambda: _sin_and_cos(x, s, c),
                     "sincos": lambda: _sincos(x, s, c)}, rounds)
    ns = {k: v / N * 1e9 for k, v in t.items()}
    print(f"sin+cos   float64  separately {ns['sin, cos']:.2f}  sincos_f64 {ns['sincos']:.2f}  "
          f"ratio {ns['sin, cos'] / ns['sincos']:.2f}x", flush=True)


@contextlib.contextmanager
def math_table(table):
    """Compile with `table` as the backend's inline math (codegen reads scalar.INLINE)."""
    old = scalar.INLINE
    scalar.INLINE = table
    try:
        yield
    finally:
        scalar.INLINE = old


TABLES = {"libm": scalar.LIBM, "exp only": dict(scalar.LIBM, exp="exp_f64"),
          "libm sin, cos": dict(scalar.INLINE, sin="math.sin", cos="math.cos"),
          "inline": scalar.INLINE}


def workloads(names, rounds):
    print(f"gradient per call, median of {rounds} interleaved rounds")
    for name in names:
        w = BY_NAME[name]
        params, data = w.make()
        fns = {}
        for label, table in TABLES.items():
            f = graphad.compile(graphad.grad(w.fun), backend="numba")
            with math_table(table):
                f(params, *data)                 # trace + compile with this table
            fns[label] = (lambda f: lambda: f(params, *data))(f)
        t = interleaved(fns, rounds)
        print(f"{name:7} " + "  ".join(f"{k} {_fmt(v)}" for k, v in t.items())
              + f"  libm/inline {t['libm'] / t['inline']:.2f}x  "
              f"exp-only/inline {t['exp only'] / t['inline']:.2f}x  "
              f"libm-sin-cos/inline {t['libm sin, cos'] / t['inline']:.2f}x", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--functions", action="store_true")
    ap.add_argument("--workloads", nargs="*")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args(argv)
    both = not args.functions and args.workloads is None
    if args.functions or both:
        functions(args.rounds)
        sincos(args.rounds)
    if args.workloads is not None or both:
        workloads(args.workloads or ["W1-1e6", "W3", "W4", "W6", "W7"], args.rounds)


if __name__ == "__main__":
    main()

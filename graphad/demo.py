"""`graphad demo`: one seed example through every stage, checked and timed.

The sine fit `0.5*mean((y - sin(o*x+t))**2)` is differentiated with respect to
(o, t); the demo prints each stage's text IR and the pass record, checks the
gradient against central differences, renders the stages into `args.out`, and
times the compiled gradient against eager mode.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

import graphad
from graphad.bench.workloads import sine_fit

SOURCE = "0.5 * mean((y - sin(o*x + t))**2)"
TIMING_SIZES = (50, 100_000)


def _data(n):
    x = np.linspace(-3.0, 3.0, n)
    y = np.sin(1.7 * x + 0.3) + 0.1 * np.random.default_rng(1).standard_normal(n)
    return (np.float64(1.0), np.float64(0.0)), x, y


def _central_differences(f, params, h=1e-6):
    grads = []
    for i in range(len(params)):
        up, down = list(params), list(params)
        up[i] = params[i] + h
        down[i] = params[i] - h
        grads.append((f(tuple(up)) - f(tuple(down))) / (2 * h))
    return grads


def check_gradient(grad_fn, params, x, y) -> bool:
    got = grad_fn(params, x, y)
    want = _central_differences(lambda p: float(sine_fit(p, x, y)), params)
    print("gradient check against central differences (h=1e-6):")
    print(f"  {'':10} {'graphad':>22} {'finite differences':>22} {'rel. error':>11}")
    ok = True
    for name, g, w in zip(("df/do", "df/dt"), got, want):
        err = abs(float(g) - w) / max(abs(w), 1e-12)
        ok &= err < 1e-6
        print(f"  {name:10} {float(g):>22.15g} {w:>22.15g} {err:>11.1e}")
    print("  ok" if ok else "  MISMATCH: the gradient disagrees with finite differences")
    return ok


def _per_call(fn, args, number) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn(*args)
    return (time.perf_counter() - t0) / number


def time_interleaved(fns, args, rounds=7, budget=0.02) -> list[float]:
    """Median seconds per call of each function, runs interleaved round by round."""
    numbers = []
    for fn in fns:          # calibrate: enough calls to fill `budget` per round
        once = max(_per_call(fn, args, 1), 1e-7)
        numbers.append(max(1, min(10_000, int(budget / once))))
    samples = [[] for _ in fns]
    for _ in range(rounds):
        for fn, number, times in zip(fns, numbers, samples):
            times.append(_per_call(fn, args, number))
    return [statistics.median(t) for t in samples]


def _fmt(seconds) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.3g} ns"


def compare_eager(f, sizes=TIMING_SIZES):
    try:
        from graphad import eager
    except ImportError:
        print("graphad.eager is not available in this build: skipping compiled vs eager.")
        return
    compiled = graphad.compile(graphad.grad(f))
    eager_grad = eager.grad(f)
    print(f"compiled vs eager gradient (backend {compiled.backend}; median of interleaved runs):")
    print(f"  {'N':>8} {'first call':>12} {'compiled':>12} {'eager':>12} {'eager/compiled':>15}")
    for n in sizes:
        args = _data(n)
        t0 = time.perf_counter()
        compiled(*args)
        first = time.perf_counter() - t0
        t_compiled, t_eager = time_interleaved([compiled, eager_grad], args)
        print(f"  {n:>8} {_fmt(first):>12} {_fmt(t_compiled):>12} {_fmt(t_eager):>12} "
              f"{t_eager / t_compiled:>14.1f}x")
    print("  (first call = trace + optimize + compile; a faster compiled gradient shows as a "
          "ratio above 1)")


def main(args) -> int:
    out = Path(getattr(args, "out", None) or "graphad-demo")
    print(f"graphad demo: the sine fit  f(o, t) = {SOURCE}, N=50, gradient w.r.t. (o, t)\n")
    params, x, y = _data(50)
    grad_fn = graphad.compile(graphad.grad(sine_fit))
    stages = grad_fn.inspect(params, x, y)

    previous = None
    for name, graph in stages.graphs().items():
        if previous is not None and graph is previous[1]:
            print(f"--- {name}: the same graph as {previous[0]} ---\n")
        else:
            print(f"--- {name}: {graph.count_nodes()} nodes ---\n{graph}\n")
        previous = (name, graph)
    print(stages.stats(), "\n")

    ok = check_gradient(grad_fn, params, x, y)
    print()

    try:
        index = stages.render(out, format="svg")
    except graphad.RenderError as e:
        print(f"rendering: {e}\n")
    else:
        files = ", ".join(f"{name}.svg" for name in stages.NAMES)
        print(f"rendered the stages to {out}/: {files}\n  open {index} to see them side by side\n")

    compare_eager(sine_fit, getattr(args, "sizes", None) or TIMING_SIZES)
    return 0 if ok else 1

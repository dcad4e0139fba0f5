"""The Numba backend against graphad's numpy backend and hand-written Numba kernels.

    .venv/bin/python benchmarks/bench_backend.py               # W1-W7 table + milestones
    .venv/bin/python benchmarks/bench_backend.py --rounds 7 W4 W5
    .venv/bin/python benchmarks/bench_backend.py --first-call  # W2 first call, fresh process
    .venv/bin/python benchmarks/bench_backend.py --threshold   # serial vs prange break-even
    .venv/bin/python benchmarks/bench_backend.py --workspace   # buffer reuse, large MLP

Per-call times are medians over rounds; in each round every implementation
runs one batch of calls, in turn (interleaved), so drifts in machine load hit
them alike. Between batches the benchmark pauses briefly: numpy's and SciPy's
BLAS keep their threads spinning for a while after a call, and on 2 cores that
would slow whichever implementation runs next. Ratios are taken within one run.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # as graphad's Numba backend sets it,
                                                     # for the hand kernels too

import graphad                                  # noqa: E402
from graphad.bench.timing import interleaved   # noqa: E402
from graphad.bench.workloads import BY_NAME     # noqa: E402
from hand_kernels import HAND, chain            # noqa: E402


def _fmt(t):
    return f"{t * 1e6:9.1f} us" if t < 1e-3 else f"{t * 1e3:9.2f} ms"


def table(names, rounds):
    rows = []
    for name in names:
        w = BY_NAME[name]
        params, data = w.make()
        compiled = graphad.compile(graphad.grad(w.fun), backend="numba")
        numpy_backend = graphad.compile(graphad.grad(w.fun), backend="numpy")
        hand = HAND[name]
        t0 = time.perf_counter()
        compiled(params, *data)
        first = time.perf_counter() - t0
        numpy_backend(params, *data)
        hand(params, *data)
        fns = {"numba": lambda: compiled(params, *data),
               "numpy": lambda: numpy_backend(params, *data),
               "hand": lambda: hand(params, *data)}
        if name == "W5":
            fns["bare"] = lambda: chain(params)
        t = interleaved(fns, rounds)
        rows.append((name, first, t))
        print(f"{name:7} graphad-numba {_fmt(t['numba'])}  graphad-numpy {_fmt(t['numpy'])}  "
              f"hand {_fmt(t['hand'])}  numpy/numba {t['numpy'] / t['numba']:6.2f}x  "
              f"numba/hand {t['numba'] / t['hand']:5.2f}x  (first call {first:.2f} s)", flush=True)
    return rows


def milestones(rows):
    t = {name: times for name, _, times in rows}
    if "W4" in t:
        w4 = t["W4"]
        print(f"W4: numba is {w4['numpy'] / w4['numba']:.1f}x faster than the numpy backend "
              f"(want >= 5) and {w4['numba'] / w4['hand']:.2f}x the hand kernel (want <= 1.25)")
    if "W5" in t:
        w5 = t["W5"]
        print(f"W5: numba {w5['numba'] * 1e6:.2f} us vs bare @njit {w5['bare'] * 1e6:.2f} us: "
              f"{w5['numba'] / w5['bare']:.2f}x (want < 3)")


FIRST_CALL = """
import time, json
t0 = time.perf_counter()
import graphad
from graphad.bench.workloads import BY_NAME
t1 = time.perf_counter()
w = BY_NAME["W2"]
params, data = w.make()
f = graphad.compile(graphad.grad(w.fun), backend="numba")
t2 = time.perf_counter()
f(params, *data)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first_call": t3 - t2}))
"""


def first_call(repeats=3):
    """W2's first gradient call in a fresh process: empty cache, then warm cache."""
    results = {"empty": [], "warm": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, GRAPHAD_CACHE_DIR=d)
            for state in ("empty", "warm"):
                out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, check=True,
                                     capture_output=True, text=True).stdout
                results[state].append(json.loads(out.strip().splitlines()[-1]))
    for state, runs in results.items():
        fc = np.median([r["first_call"] for r in runs])
        imp = np.median([r["import"] for r in runs])
        print(f"W2 first call, {state} cache: {fc:.2f} s (trace + compile + run; "
              f"import graphad {imp:.2f} s)")


def threshold(rounds=5):
    """Serial vs parallel time of a cheap and an expensive fused region, by size."""
    import graphad.numpy as gnp
    from graphad.backends.numba import compile_graph, prepare
    from graphad.passes.pipeline import optimize
    bodies = {"a*b+c (cost 2)": lambda a, b, c: a * b + c,
              "exp(a)*b (cost 9)": lambda a, b, c: gnp.exp(a) * b}
    for label, body in bodies.items():
        print(label)
        for n in (2 ** 12, 2 ** 14, 2 ** 16, 2 ** 18, 2 ** 20):
            a, b, c = (np.random.default_rng(i).standard_normal(n) for i in range(3))
            graph = prepare(optimize(graphad.inspect(graphad.compile(body), a, b, c).traced)[0])
            serial = compile_graph(graph, serial=True)
            parallel = compile_graph(graph, parallel_work=0)
            serial([a, b, c])
            parallel([a, b, c])
            t = interleaved({"serial": lambda: serial.run(a, b, c),
                             "parallel": lambda: parallel.run(a, b, c)}, rounds)
            print(f"  n={n:8d}  serial {_fmt(t['serial'])}  parallel {_fmt(t['parallel'])}  "
                  f"speed-up {t['serial'] / t['parallel']:.2f}x", flush=True)


def mlp_loss(params, x, y):
    """A 2-layer tanh MLP's squared error: at 50,000 rows every hidden-layer array
    (and its cotangent) is 50,000 x 128 float64, 51 MB."""
    import graphad.numpy as gnp
    h = gnp.tanh(x @ params["w1"] + params["b1"])
    return gnp.mean((h @ params["w2"] + params["b2"] - y) ** 2)


def _minor_faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def workspace(rounds=5, rows=50_000, features=64, hidden=128):
    """The MLP gradient compiled with the default workspace (large intermediates live in
    buffers kept between calls) against workspace_bytes=None (every array allocated each
    call), interleaved; plus minor page faults per call, counted around separate calls."""
    from graphad.backends import compile_graph
    from graphad.tree import tree_flatten
    rng = np.random.default_rng(0)
    params = {"w1": rng.standard_normal((features, hidden)) / np.sqrt(features),
              "b1": np.zeros(hidden), "w2": rng.standard_normal(hidden) / np.sqrt(hidden),
              "b2": np.float64(0.0)}
    x, y = rng.standard_normal((rows, features)), rng.standard_normal(rows)
    stages = graphad.compile(graphad.grad(mlp_loss), backend="numba").inspect(params, x, y)
    leaves = tree_flatten((params, x, y))[0]
    exes = {"workspace": compile_graph(stages.fused, "numba"),
            "allocate": compile_graph(stages.fused, "numba", workspace_bytes=None)}
    results = {k: exe.run(*leaves) for k, exe in exes.items()}
    for a, b in zip(results["workspace"], results["allocate"]):
        np.testing.assert_allclose(a, b, rtol=1e-10)
    print(f"MLP gradient, x {rows}x{features}, hidden {hidden}, float64; workspace arrays "
          f"{len(exes['workspace'].workspace)} with the default, "
          f"{len(exes['allocate'].workspace)} with workspace_bytes=None; "
          f"median of {rounds} interleaved rounds", flush=True)
    t = interleaved({k: (lambda exe=exe: exe.run(*leaves)) for k, exe in exes.items()}, rounds)
    faults = {}
    for k, exe in exes.items():
        calls = 5
        before = _minor_faults()
        for _ in range(calls):
            exe.run(*leaves)
        faults[k] = (_minor_faults() - before) / calls
    for k in exes:
        print(f"  {k:9}  {_fmt(t[k])}  {faults[k]:9.0f} minor page faults per call")
    print(f"  allocate/workspace: {t['allocate'] / t['workspace']:.2f}x")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workloads", nargs="*", default=["W1-50", "W1-1e6", "W2", "W3", "W4", "W5",
                                                     "W6", "W7"])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--first-call", action="store_true")
    ap.add_argument("--threshold", action="store_true")
    ap.add_argument("--workspace", action="store_true")
    args = ap.parse_args(argv)
    if args.workspace:
        workspace(args.rounds)
        return
    if args.threshold:
        threshold(args.rounds)
        return
    if args.first_call:
        first_call()
        return
    import numba
    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}, "
          f"{os.cpu_count()} cpus; median of {args.rounds} interleaved rounds")
    milestones(table(args.workloads, args.rounds))


if __name__ == "__main__":
    main()

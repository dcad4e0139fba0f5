"""How much the optimization pipeline shrinks gradient graphs, and how fast it runs.

    .venv/bin/python benchmarks/graph_sizes.py [--quick]

Prints, for the seeds' examples, the node counts of the traced, adjoint
(forward + reverse mode, before optimization) and optimized graphs and the
pipeline's time; the optimized gradient size of the logistic map v = 4v(1-v)
for n = 1..30 layers with a least-squares slope; and the pipeline's time on
gradient graphs of about 1k, 10k and 100k nodes. Node counts include
constants. Targets (issue 3): optimized >= 30% smaller than adjoint; logistic
map linear in n; 10k nodes under 2 s; growth no worse than n log n.
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np

import graphad
import graphad.numpy as gnp
from graphad.bench.workloads import BY_NAME
from graphad.passes import optimize
from graphad.passes.pipeline import total_hits
from graphad.passes.reverse_mode import reverse_mode
from graphad.trace import trace_function


# ---- the examples -------------------------------------------------------------------------

def chain(w, x, y, z):
    a = (w + x + y + z) ** 2
    b = (w + x - y - z) ** 2
    u = (a + b) ** 2
    v = (a - b) ** 2
    return (u + v) ** 2


def factored(a, b):
    return (a + b) * (b + 1)


def expanded(a, b):
    return a * b + b * b + a + b


def logistic(n):
    def f(x):
        v = x
        for _ in range(n):
            v = 4 * v * (1 - v)
        return gnp.sum(v)
    return f


def tanh_mlp(params, x, y):
    h = x
    for w, b in params[:-1]:
        h = gnp.tanh(h @ w + b)
    w, b = params[-1]
    return gnp.mean((h @ w + b - y) ** 2)


def _tanh_mlp_args():
    r = np.random.default_rng(0)
    sizes = (1, 16, 16, 1)
    params = [(r.standard_normal((m, n)) / np.sqrt(m), np.zeros(n))
              for m, n in zip(sizes[:-1], sizes[1:])]
    x = np.linspace(-2, 2, 100).reshape(-1, 1)
    return params, x, np.sin(x)


def _workload(name):
    w = BY_NAME[name]
    params, data = w.make()
    return w.fun, (params, *data), 0


EXAMPLES = [
    ("four-variable chain", chain, (-1.0, 0.0, -2.0, 1.0), (0, 1, 2, 3)),
    ("e=(a+b)*(b+1)", factored, (2.0, 3.0), (0, 1)),
    ("e=a*b+b*b+a+b", expanded, (2.0, 3.0), (0, 1)),
    ("sine fit (W1)", *_workload("W1-50")),
    ("1-4-4-1 ReLU net (W2)", *_workload("W2")),
    ("tanh MLP 1-16-16-1, MSE", tanh_mlp, _tanh_mlp_args(), 0),
    ("tanh MLP + softmax CE (W3)", *_workload("W3")),
    ("logistic map n=20", logistic(20), (np.full(1000, 0.3),), 0),
    ("logistic regression (W6)", *_workload("W6")),
    ("logsumexp(y**2) (W7)", *_workload("W7")),
]


def _operations(graph):
    return sum(1 for n in graph.nodes if n.prim.name != "constant")


def sizes(fun, args, argnums):
    stages = graphad.inspect(graphad.grad(fun, argnums), *args)
    seconds = sum(r["seconds"] for r in stages.records)
    rounds = stages.records[-1]["round"] + 1 if stages.records else 0
    return (stages.traced.count_nodes(), stages.adjoint.count_nodes(),
            stages.optimized.count_nodes(), seconds, rounds, total_hits(stages.records),
            _operations(stages.adjoint), _operations(stages.optimized))


def example_table():
    print("## Gradient graphs of the examples\n")
    print("Nodes include constants; ops exclude them. `smaller by` compares nodes.\n")
    print("| example | traced | adjoint | optimized | smaller by | ops: adjoint -> optimized "
          "| pipeline | rounds |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, fun, args, argnums in EXAMPLES:
        traced, adjoint, optimized, seconds, rounds, _, ops_a, ops_o = sizes(fun, args, argnums)
        print(f"| {name} | {traced} | {adjoint} | {optimized} | "
              f"{1 - optimized / adjoint:.0%} | {ops_a} -> {ops_o} ({1 - ops_o / ops_a:.0%}) | "
              f"{seconds * 1e3:.1f} ms | {rounds} |")
    print()


def logistic_table():
    print("## Logistic map v = 4v(1-v), n layers: gradient graph size\n")
    ns = np.arange(1, 31)
    rows = [sizes(logistic(int(n)), (np.full(1000, 0.3),), 0) for n in ns]
    adj = np.array([r[1] for r in rows])
    opt = np.array([r[2] for r in rows])
    print("| n | traced | adjoint | optimized | smaller by | pipeline |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n, r in zip(ns, rows):
        if n in (1, 2, 5, 10, 15, 20, 25, 30):
            print(f"| {n} | {r[0]} | {r[1]} | {r[2]} | {1 - r[2] / r[1]:.0%} | "
                  f"{r[3] * 1e3:.1f} ms |")
    slope, intercept = np.polyfit(ns, opt, 1)
    residual = np.max(np.abs(opt - (slope * ns + intercept)))
    adj_slope = np.polyfit(ns, adj, 1)[0]
    print(f"\noptimized nodes = {slope:.3f} * n + {intercept:.2f} (max residual {residual:.2g}); "
          f"adjoint slope {adj_slope:.3f}; a quadratic fit's n^2 coefficient: "
          f"{np.polyfit(ns, opt, 2)[0]:.2g}\n")


# ---- scaling ------------------------------------------------------------------------------

def mixed(k):
    """Blocks with broadcasting, reductions and the identities the rules target."""
    def f(x, w):
        h = x
        for _ in range(k):
            z = gnp.tanh(h * w + 1.0) ** 2 * 1.0
            h = z + gnp.log(1.0 + gnp.exp(-z)) - gnp.mean(z, axis=0)
        return gnp.sum(h)
    return f


FAMILIES = {
    "logistic map": (lambda n: logistic(n), lambda: (np.full(8, 0.3),), 8.0),
    "mixed blocks": (lambda n: mixed(n), lambda: (np.ones((4, 3)), np.ones(3)), None),
}


def _adjoint(fun, args):
    graph = trace_function(fun, list(args)).graph
    return reverse_mode(graph, tuple(range(len(args))))


def scaling_table(targets, repeats):
    print("## Pipeline time on gradient graphs of growing size\n")
    print("CPU time of this process (wall time in brackets: other load on the machine "
          "inflates it); best of 3 below 50k nodes.\n")
    print("| family | adjoint nodes | optimized | CPU time (wall) | µs / node | "
          "ratio to previous | n log n ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for family, (make, make_args, per_layer) in FAMILIES.items():
        if per_layer is None:           # measure the nodes one block adds
            one, two = (_adjoint(make(k), make_args()).count_nodes() for k in (1, 2))
            per_layer = two - one
        prev = None
        for target in targets:
            graph = _adjoint(make(max(1, round(target / per_layer))), make_args())
            n = graph.count_nodes()
            best = wall = math.inf
            for _ in range(repeats if n < 50_000 else 1):
                t0, c0 = time.perf_counter(), time.process_time()
                out, _ = optimize(graph)
                cpu = time.process_time() - c0
                if cpu < best:
                    best, wall = cpu, time.perf_counter() - t0
            ratio = nlogn = ""
            if prev is not None:
                ratio = f"{best / prev[1]:.1f}x"
                nlogn = f"{n * math.log(n) / (prev[0] * math.log(prev[0])):.1f}x"
            print(f"| {family} | {n} | {out.count_nodes()} | {best:.3f} s ({wall:.3f} s) | "
                  f"{best / n * 1e6:.1f} | {ratio} | {nlogn} |")
            prev = (n, best)
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 100k-node graphs")
    opts = parser.parse_args()
    example_table()
    logistic_table()
    targets = (1_000, 10_000) if opts.quick else (1_000, 10_000, 100_000)
    scaling_table(targets, repeats=3)


if __name__ == "__main__":
    main()

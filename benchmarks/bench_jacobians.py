"""Jacobian and Hessian benchmarks.

1. `hessian` of a 50-parameter function (L2-regularized logistic regression on
   200 points, f: R^50 -> R): compiled (graphad.compile(graphad.hessian(f)) on
   the numba backend when present), graphad uncompiled (the same graph on the numpy
   oracle), graphad eager (one eager gradient-of-gradient pass per row: what
   op-by-op AD has to do), and jax.jit(jax.hessian(f)) when JAX is installed.
2. `jacrev` of a 1000 -> 10 function (a 1000-64-10 tanh network in its input):
   compiled, uncompiled, eager (one vjp, then one pull-back per output), JAX.
3. Node counts of the Hessian of a 2-layer tanh network at each stage
   (traced, adjoint = before optimization, optimized, fused).

Times are medians of interleaved rounds, per call, after a warm-up call (so
compile time is excluded; it is reported separately as "first call").

    .venv/bin/python benchmarks/bench_jacobians.py [--rounds 15]
"""
from __future__ import annotations

import argparse
import os
import time

# The matrices here are small; OpenBLAS's second thread only adds stalls of milliseconds
# when the other core is busy (measured: (10,64) @ (64,1000) from 0.05 ms to 5-16 ms on a
# loaded 2-core machine). One BLAS thread keeps the comparison about AD, not scheduling.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import graphad  # noqa: E402
from graphad.bench.timing import interleaved  # noqa: E402
import graphad.numpy as gnp  # noqa: E402
from graphad.backends import BACKENDS, DEFAULT_BACKEND  # noqa: E402

BACKEND = "numba" if "numba" in BACKENDS else DEFAULT_BACKEND   # what "compiled" means

try:
    import graphad.eager as eager
except ImportError:          # eager mode may not have landed yet
    eager = None
jax = jnp = None


def import_jax():
    """JAX is imported only after graphad is timed: with two OpenBLAS threads, importing it
    made numpy's matrix products in the same process ~150x slower (its threads compete)."""
    global jax, jnp
    try:
        import jax as jax_module
        import jax.numpy as jnp_module
    except ImportError:
        return False
    jax, jnp = jax_module, jnp_module
    jax.config.update("jax_enable_x64", True)
    return True


def first_call(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def report(title, results, firsts, reference_name="compiled"):
    print(f"\n{title}")
    print(f"  {'implementation':<22} {'per call':>12} {'vs compiled':>12} {'first call':>12}")
    ref = results[reference_name]
    for name, t in results.items():
        print(f"  {name:<22} {t * 1e3:>9.3f} ms {t / ref:>11.1f}x {firsts[name] * 1e3:>9.1f} ms")


# ---- 1. Hessian of a 50-parameter function ---------------------------------------

def logistic_loss(np_):
    def f(w, X, y):
        z = X @ w
        return np_.sum(np_.log1p(np_.exp(-y * z))) + 0.05 * np_.sum(w * w)
    return f


def bench_hessian():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 50)) / 7
    y = np.sign(rng.standard_normal(200))
    w = rng.standard_normal(50) * 0.1
    f = logistic_loss(gnp)
    s = 1 / (1 + np.exp(-y * (X @ w)))
    expected = X.T @ (X * (s * (1 - s))[:, None]) + 0.1 * np.eye(50)

    compiled = graphad.compile(graphad.hessian(f), backend=BACKEND)
    oracle = graphad.hessian(f)
    candidates = {"compiled": lambda: compiled(w, X, y), "graphad uncompiled": lambda: oracle(w, X, y)}
    if eager is not None:
        basis = np.eye(50)
        def eager_hessian():
            g = eager.grad(f)
            return np.stack([eager.grad(lambda w, e=e: gnp.sum(g(w, X, y) * e))(w) for e in basis])
        candidates["graphad eager (rows)"] = eager_hessian

    def jax_candidates():
        jf = jax.jit(jax.hessian(logistic_loss(jnp)))
        return {"jax.jit(hessian)": lambda: jf(w, X, y).block_until_ready()}
    title = f"hessian, f: R^50 -> R (logistic regression, 200 points), backend={BACKEND}"
    return title, candidates, jax_candidates, expected


# ---- 2. jacrev of a 1000 -> 10 function ------------------------------------------------

def network(np_, W1, W2):
    def g(x):
        return np_.tanh(W2 @ np_.tanh(W1 @ x))
    return g


def bench_jacrev():
    rng = np.random.default_rng(1)
    W1 = rng.standard_normal((64, 1000)) / 30
    W2 = rng.standard_normal((10, 64)) / 8
    x = rng.standard_normal(1000)
    g = network(gnp, W1, W2)
    h = np.tanh(W1 @ x)
    o = np.tanh(W2 @ h)
    expected = ((1 - o ** 2)[:, None] * W2) @ ((1 - h ** 2)[:, None] * W1)

    compiled = graphad.compile(graphad.jacrev(g), backend=BACKEND)
    oracle = graphad.jacrev(g)
    candidates = {"compiled": lambda: compiled(x), "graphad uncompiled": lambda: oracle(x)}
    if eager is not None:
        basis = np.eye(10)
        def eager_jacobian():
            _, pull = eager.vjp(g, x)
            return np.stack([pull(e)[0] for e in basis])
        candidates["graphad eager (vjps)"] = eager_jacobian

    def jax_candidates():
        jg = jax.jit(jax.jacrev(network(jnp, W1, W2)))
        return {"jax.jit(jacrev)": lambda: jg(x).block_until_ready()}
    title = f"jacrev, g: R^1000 -> R^10 (tanh network 1000-64-10), backend={BACKEND}"
    return title, candidates, jax_candidates, expected


# ---- 3. node counts ------------------------------------------------------------------

def two_layer_loss(w, x, y):
    h = gnp.tanh(x @ w["W1"] + w["b1"])
    return 0.5 * gnp.mean((gnp.tanh(h @ w["W2"] + w["b2"]) - y) ** 2)


def node_counts():
    rng = np.random.default_rng(2)
    w = {"W1": rng.standard_normal((3, 8)), "b1": np.zeros(8), "W2": rng.standard_normal((8, 1)),
         "b2": np.zeros(1)}
    x, y = rng.standard_normal((16, 3)), rng.standard_normal((16, 1))
    print("\nHessian of a 2-layer tanh network (3-8-1, 41 parameters, 4x4 blocks): nodes per "
          f"stage (adjoint = before optimization; fused = what {BACKEND} compiles)")
    for name, fun in (("grad", graphad.grad(two_layer_loss)),
                      ("jacrev", graphad.jacrev(two_layer_loss)),
                      ("hessian", graphad.hessian(two_layer_loss))):
        stats = graphad.inspect(graphad.compile(fun, backend=BACKEND), w, x, y).stats()
        counts = "  ".join(f"{k}={v}" for k, v in stats.nodes.items())
        print(f"  {name:<8} {counts}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    benches = [bench_hessian(), bench_jacrev()]
    measured = []
    for title, candidates, _, expected in benches:        # graphad first, JAX not imported
        firsts = {name: check(name, fn, expected) for name, fn in candidates.items()}
        measured.append((title, interleaved(candidates, args.rounds), firsts))
    if import_jax():
        for (_, _, jax_candidates, expected), (_, times, firsts) in zip(benches, measured):
            candidates = jax_candidates()
            firsts.update({name: check(name, fn, expected) for name, fn in candidates.items()})
            times.update(interleaved(candidates, args.rounds))
    print(f"graphad {graphad.__version__}, compiled = backend {BACKEND}, "
          f"eager {'yes' if eager else 'absent'}, jax {jax.__version__ if jax else 'absent'}")
    for title, times, firsts in measured:
        report(title, times, firsts)
    node_counts()


def check(name, fn, expected):
    """First-call time of `fn`, after checking its result."""
    seconds, out = first_call(fn)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-9, atol=1e-12, err_msg=name)
    return seconds


if __name__ == "__main__":
    main()

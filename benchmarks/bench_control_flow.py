"""Control-flow benchmark: the gradient of a 1,000-step recurrence.

    h_0 = 0;  h_{t+1} = tanh(W h_t + x_t) for t < 1000;  loss = sum(h_1000 ** 2)

d loss / d W (W 32x32, x of shape (1000, 32)) by
- graphad compiled: graphad.compile(graphad.grad(f)) with `fori_loop` on the default
  (numba) backend: a native forward loop filling a tape array, then a native backward loop;
- graphad eager: graphad.eager.grad of the plain Python `for` loop (op-by-op tape);
- JAX: jax.jit(jax.grad(f)) with `lax.fori_loop` (x64), when JAX is installed.
With --hoist, also W carried through the loop unchanged (`fori_loop(0, T, step, (W, h))`),
compiled with and without the loop-invariant hoisting pass, and the closure version
without it. With --second-order, also grad and grad of grad through a 100,000-trip loop
`y = sin(y) * x + 0.1` (x, y of 3 elements), compiled, against JAX. The gradients are
checked to agree first. Times are medians of interleaved rounds, per call, after a
warm-up call (compile time reported as "first call").

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_control_flow.py [--rounds 15] \
        [--hoist] [--second-order]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

# Tiny matrix-vector products: a second BLAS thread only adds scheduling noise here.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import graphad  # noqa: E402
import graphad.eager as eager  # noqa: E402
import graphad.numpy as gnp  # noqa: E402

STEPS, N = 1000, 32


def loss_graphad(W, xs):
    h = graphad.fori_loop(0, STEPS, lambda t, h: gnp.tanh(W @ h + xs[t]), gnp.zeros(N))
    return gnp.sum(h ** 2)


def loss_carried(W, xs):
    """W rides in the carry unchanged; hoisting turns it into a loop const."""
    def step(t, s):
        W, h = s
        return W, gnp.tanh(W @ h + xs[t])
    return gnp.sum(graphad.fori_loop(0, STEPS, step, (W, gnp.zeros(N)))[1] ** 2)


def loss_python(W, xs):
    h = gnp.zeros(N)
    for t in range(STEPS):
        h = gnp.tanh(W @ h + xs[t])
    return gnp.sum(h ** 2)


LONG = 100_000


def long_loop(x):
    return gnp.sum(graphad.fori_loop(0, LONG, lambda i, y: gnp.sin(y) * x + 0.1, x))


def long_loop_second(x):
    """<grad long_loop(x), x>: its gradient is grad + Hessian @ x, through the loop twice."""
    return gnp.sum(graphad.grad(long_loop)(x) * x)


def jax_second_order():
    """jax.jit of the gradient and of the second-order gradient above, or None."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def loop(x):
        return jnp.sum(jax.lax.fori_loop(0, LONG, lambda i, y: jnp.sin(y) * x + 0.1, x))
    grad = jax.jit(jax.grad(loop))
    second = jax.jit(jax.grad(lambda x: jnp.sum(jax.grad(loop)(x) * x)))
    return (lambda x: np.asarray(grad(x).block_until_ready()),
            lambda x: np.asarray(second(x).block_until_ready()))


def jax_grad():
    """jax.jit(jax.grad) of the lax.fori_loop version, or None without JAX. Imported
    after graphad's set-up so its threads do not disturb numpy's."""
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)

    def loss(W, xs):
        h = jax.lax.fori_loop(0, STEPS, lambda t, h: jnp.tanh(W @ h + xs[t]), jnp.zeros(N))
        return jnp.sum(h ** 2)
    g = jax.jit(jax.grad(loss))
    return lambda W, xs: np.asarray(g(W, xs).block_until_ready())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--hoist", action="store_true",
                        help="also compare compiled gradients with and without hoisting")
    parser.add_argument("--second-order", action="store_true",
                        help="also time grad and grad of grad through a 100,000-trip loop")
    args = parser.parse_args(argv)
    if args.second_order:
        second_order(args.rounds)
    rounds = args.rounds
    rng = np.random.default_rng(0)
    W = rng.standard_normal((N, N)) / np.sqrt(N)
    xs = rng.standard_normal((STEPS, N)) * 0.5

    candidates = {"graphad compiled": graphad.compile(graphad.grad(loss_graphad)),
                  "graphad eager": eager.grad(loss_python)}
    if args.hoist:
        no_hoist = graphad.passes.without("hoist")
        candidates.update({
            "compiled, no hoist": graphad.compile(graphad.grad(loss_graphad), passes=no_hoist),
            "W carried": graphad.compile(graphad.grad(loss_carried)),
            "W carried, no hoist": graphad.compile(graphad.grad(loss_carried), passes=no_hoist)})
    jg = jax_grad()
    if jg is not None:
        candidates["jax.jit(grad) fori"] = jg
    firsts, outs = {}, {}
    for name, fn in candidates.items():
        start = time.perf_counter()
        outs[name] = np.asarray(fn(W, xs))
        firsts[name] = time.perf_counter() - start
    ref = outs["graphad compiled"]
    for name, g in outs.items():
        err = np.max(np.abs(g - ref)) / np.max(np.abs(ref))
        assert err < 1e-10, f"{name} disagrees with graphad compiled: relative error {err:.2e}"
    print(f"gradients agree (max relative difference < 1e-10; |dW| max {np.max(np.abs(ref)):.3g})")

    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn(W, xs)
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"\ngrad of a {STEPS}-step tanh recurrence w.r.t. W ({N}x{N}), "
          f"median of {rounds} interleaved rounds")
    print(f"  {'implementation':<22} {'per call':>12} {'vs compiled':>12} {'first call':>12}")
    for name, t in med.items():
        print(f"  {name:<22} {t * 1e3:>9.3f} ms {t / med['graphad compiled']:>11.1f}x "
              f"{firsts[name] * 1e3:>9.1f} ms")
    if jg is None:
        print("  (JAX not installed: skipped)")


def second_order(rounds):
    x = np.array([0.3, 0.5, 0.7])
    candidates = {"graphad grad": graphad.compile(graphad.grad(long_loop)),
                  "graphad grad of grad": graphad.compile(graphad.grad(long_loop_second))}
    jax_fns = jax_second_order()
    if jax_fns is not None:
        candidates.update({"jax grad": jax_fns[0], "jax grad of grad": jax_fns[1]})
    outs = {name: np.asarray(fn(x)) for name, fn in candidates.items()}
    for name, g in outs.items():
        ref = outs["graphad grad of grad" if "of grad" in name else "graphad grad"]
        assert np.allclose(g, ref, rtol=1e-10), f"{name} disagrees: {g} vs {ref}"
    times = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            fn(x)
            times[name].append(time.perf_counter() - start)
    print(f"\n{LONG:,}-trip loop y = sin(y) * x + 0.1, median of {rounds} interleaved rounds")
    for name, ts in times.items():
        print(f"  {name:<22} {statistics.median(ts) * 1e3:>9.3f} ms")


if __name__ == "__main__":
    main()

"""Training-loop benchmarks.

1. A compiled training step (loss + gradient + optimizer update in one
   graphad.compile'd function) against a compiled value_and_grad followed by the
   optimizer update in Python, for the 1-4-4-1 MLP (sgd + momentum) and the
   polynomial regression (Adam). Per-step time, medians of interleaved rounds.
2. Each example's training run (examples/*.py at its default iterations):
   graphad compiled against graphad eager, medians of interleaved rounds. The
   compiled run includes tracing and compiling its step (a fresh function per
   run, as a user's script would do; a compile cache on disk is warm after
   the first round).

    .venv/bin/python benchmarks/bench_train_step.py [--rounds 7] [--steps 200] [--quick]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys

import numpy as np

import graphad
from graphad import optim
from graphad.bench.timing import interleaved
from graphad.backends import DEFAULT_BACKEND

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples"))

import chain_rule  # noqa: E402
import linear_regression  # noqa: E402
import mlp  # noqa: E402
import polynomial_regression  # noqa: E402
import sigmoid_classifier  # noqa: E402
import sine_fit  # noqa: E402


# ---- 1. compiled step vs compiled gradient + Python update ------------------------

def step_loops(loss, opt, params, data, steps):
    """Two loops of `steps` training steps, both compiled ahead (warmed up)."""
    step = optim.training_step(loss, opt)
    value_and_grad = graphad.compile(graphad.value_and_grad(loss))
    state0 = opt.init(params)
    step(params, state0, *data)
    value_and_grad(params, *data)

    def fused():
        p, s = params, state0
        for _ in range(steps):
            p, s, _ = step(p, s, *data)
        return p

    def split():
        p, s = params, state0
        for _ in range(steps):
            _, g = value_and_grad(p, *data)
            p, s = opt.update(g, s, p)
        return p

    a, b = fused(), split()
    for x, y in zip(graphad.tree.tree_leaves(a), graphad.tree.tree_leaves(b)):
        np.testing.assert_allclose(x, y, rtol=1e-8, atol=1e-12)
    return {"compiled step": fused, "compiled grad + Python update": split}


def bench_steps(rounds, steps):
    print(f"\n1. Training step, {steps} steps per round, median of {rounds} interleaved rounds")
    print(f"{'problem':<34} {'compiled step':>14} {'grad + py update':>17} {'ratio':>7}")
    problems = [
        ("1-4-4-1 MLP, 1000 pts, sgd+momentum", mlp.loss, mlp.OPTIMIZER, mlp.make_data()),
        ("cubic poly regression, 2000, adam", polynomial_regression.loss,
         polynomial_regression.OPTIMIZER, polynomial_regression.make_data()),
    ]
    for name, loss, opt, (params, data) in problems:
        t = interleaved(step_loops(loss, opt, params, data, steps), rounds)
        fused, split = t["compiled step"] / steps, t["compiled grad + Python update"] / steps
        print(f"{name:<34} {fused * 1e6:>11.1f} us {split * 1e6:>14.1f} us {split / fused:>6.2f}x")


# ---- 2. each example: compiled vs eager -------------------------------------------

def example_runs(eager):
    iters = {"sine_fit": 100, "linear_regression": 300, "polynomial_regression": 500, "mlp": 1000,
             "sigmoid_classifier": 200, "chain_rule": 1000}
    runs = {}
    for module in (sine_fit, polynomial_regression, mlp, sigmoid_classifier):
        n = iters[module.__name__]
        runs[module.__name__] = (n, lambda m=module, n=n: m.train(n),
                                 lambda m=module, n=n: m.train(n, eager.value_and_grad))
    n = iters["linear_regression"]
    runs["linear_regression"] = (n, lambda: linear_regression.train(n),
                                 lambda: linear_regression.train(n, grad=eager.grad))

    def chain(transform, n=iters["chain_rule"]):
        def run():
            f = transform(chain_rule.f, argnums=(0, 1, 2, 3))
            for _ in range(n):
                f(*chain_rule.POINT)
        return run
    runs["chain_rule"] = (iters["chain_rule"],
                          chain(lambda f, argnums: graphad.compile(graphad.value_and_grad(f, argnums))),
                          chain(eager.value_and_grad))
    return runs


def bench_examples(rounds):
    try:
        from graphad import eager
    except ImportError:
        print("\n2. Examples: graphad.eager is not available, skipped")
        return
    print(f"\n2. Example training runs (whole run incl. trace + compile), median of {rounds} rounds")
    print(f"{'example':<22} {'iters':>6} {'compiled':>10} {'eager':>10} {'eager/compiled':>15}")
    for name, (n, compiled, eager_run) in example_runs(eager).items():
        compiled()                      # the first run fills any disk cache
        t = interleaved({"compiled": compiled, "eager": eager_run}, rounds)
        print(f"{name:<22} {n:>6} {t['compiled'] * 1e3:>7.1f} ms {t['eager'] * 1e3:>7.1f} ms "
              f"{t['eager'] / t['compiled']:>14.2f}x")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 50 steps")
    parser.add_argument("--only", choices=("steps", "examples"))
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps = 3, 50
    print(f"graphad {graphad.__version__}, compile backend: {DEFAULT_BACKEND}; numpy {np.__version__}, "
          f"Python {platform.python_version()}, {os.cpu_count()} cores")
    if args.only != "examples":
        bench_steps(args.rounds, args.steps)
    if args.only != "steps":
        bench_examples(args.rounds)


if __name__ == "__main__":
    main()

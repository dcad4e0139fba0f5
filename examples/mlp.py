"""A 1-4-4-1 ReLU network fit to y = sin(2x) + noise, trained with sgd + momentum.

Parameters are a dict of weight matrices and biases; the compiled step does the
forward pass, the gradient and autograd's momentum update
(`v = 0.9 v - 0.1 g;  p = p + step_size * v`) in one call. Checks: the gradient
at the start equals a hand-written numpy backward pass, and the loss falls.
"""
import os

import numpy as np

import graphad
from graphad import nn, optim
from graphad.bench.workloads import relu_mlp_grad

from _common import Timer, check, fit, parse_args, pyplot, render_stages

OPTIMIZER = optim.sgd(step_size=0.2, mass=0.9)


def predict(params, x):
    h = nn.relu(x @ params["W1"] + params["b1"])
    h = nn.relu(h @ params["W2"] + params["b2"])
    return h @ params["W3"] + params["b3"]


def loss(params, x, y):
    return nn.mse(predict(params, x), y)


def make_data(n=1000):
    r = np.random.default_rng(2)
    x = np.linspace(-2.0, 2.0, n).reshape(-1, 1)
    y = np.sin(2 * x) + 0.05 * r.standard_normal(x.shape)
    params = {"W1": r.standard_normal((1, 4)), "b1": r.standard_normal(4),
              "W2": r.standard_normal((4, 4)) * 0.5, "b2": r.standard_normal(4),
              "W3": r.standard_normal((4, 1)) * 0.5, "b3": r.standard_normal(1)}
    return params, (x, y)


def train(iters, value_and_grad=None):
    return fit(loss, OPTIMIZER, *make_data(), iters, value_and_grad)


def plot(params, out_dir):
    plt = pyplot()
    if plt is None:
        return
    _, (x, y) = make_data()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, y, ".", ms=2, color="gray", label="data")
    ax.plot(x, predict(params, x), color="crimson", label="1-4-4-1 ReLU net")
    ax.legend()
    file = os.path.join(out_dir, "mlp_fit.png")
    fig.savefig(file, dpi=110, bbox_inches="tight")
    print(f"fit plotted to {file}")


def main():
    args = parse_args("mlp", __doc__, iters=1000)
    params0, data = make_data()
    g = graphad.compile(graphad.grad(loss))(params0, *data)
    expect = relu_mlp_grad(params0, *data)
    err = max(np.max(np.abs(g[k] - expect[k])) for k in expect)
    check(err < 1e-12, f"gradient equals the hand-written backward pass (max difference {err:.1e})")

    with Timer() as timer:
        params, losses = train(args.iters)
    print(f"after {args.iters} steps ({timer.seconds:.3f} s): loss {losses[0]:.4f} -> {losses[-1]:.4f}")
    for i in np.unique(np.linspace(0, args.iters - 1, 6).astype(int)):
        print(f"  iter {i:5d}  loss {losses[i]:.5f}")
    check(losses[-1] < losses[0], "the loss falls")
    if args.iters >= 100:
        check(losses[-1] < 0.1 * losses[0], "the loss falls below a tenth of its start")
    plot(params, args.out)
    render_stages(graphad.grad(loss), (params0, *data), args.out, args.no_render)


if __name__ == "__main__":
    main()

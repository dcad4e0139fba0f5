"""Fit y = sin(o*x + t) to noisy samples by plain gradient descent.

The whole step (loss, gradient, update) is one compiled graphad function. With
matplotlib installed, draws the loss surface over (o, t) and the descent path.
Checks: the fit recovers the generating (o, t) = (1.7, 0.3) and the path equals
a hand-written numpy gradient descent.
"""
import os

import numpy as np

import graphad
import graphad.numpy as gnp
from graphad import nn, optim

from _common import Timer, check, parse_args, pyplot, render_stages

STEP_SIZE = 0.5


def loss(params, x, y):
    o, t = params
    return nn.mse(gnp.sin(o * x + t), y, half=True)


def make_data(n=50):
    x = np.linspace(-3.0, 3.0, n)
    y = np.sin(1.7 * x + 0.3) + 0.1 * np.random.default_rng(1).standard_normal(n)
    return (np.float64(1.0), np.float64(0.0)), (x, y)


def train(iters, value_and_grad=None):
    """Gradient descent from (1, 0); returns the path of (o, t) and the losses.

    By default the whole step is compiled; pass a `value_and_grad` (e.g.
    graphad.eager's) to run the gradient that way and update in Python."""
    params, data = make_data()
    opt = optim.sgd(STEP_SIZE)
    state = opt.init(params)
    step = optim.training_step(loss, opt) if value_and_grad is None else None
    path, losses = [params], []
    for _ in range(iters):
        if step is not None:
            params, state, value = step(params, state, *data)
        else:
            value, grads = value_and_grad(loss)(params, *data)
            params, state = opt.update(grads, state, params)
        path.append(params)
        losses.append(float(value))
    return np.array(path, dtype=float), np.array(losses)


def numpy_reference(iters):
    (o, t), (x, y) = make_data()
    path = [(o, t)]
    for _ in range(iters):
        z = o * x + t
        r = (np.sin(z) - y) * np.cos(z) / x.size
        o, t = o - STEP_SIZE * np.sum(r * x), t - STEP_SIZE * np.sum(r)
        path.append((o, t))
    return np.array(path)


def plot(path, out_dir):
    plt = pyplot("contour plot")
    if plt is None:
        return
    _, (x, y) = make_data()
    o, t = np.meshgrid(np.linspace(0.5, 2.5, 200), np.linspace(-1.5, 1.5, 200))
    surface = 0.5 * np.mean((np.sin(o[..., None] * x + t[..., None]) - y) ** 2, axis=-1)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    cs = ax.contour(o, t, surface, levels=30, cmap="viridis")
    fig.colorbar(cs, label="loss")
    ax.plot(path[:, 0], path[:, 1], "o-", color="crimson", ms=3, label="gradient descent")
    ax.plot(1.7, 0.3, "k*", ms=12, label="generating (o, t)")
    ax.set(xlabel="o", ylabel="t", title="0.5 mean((sin(o x + t) - y)^2)")
    ax.legend()
    file = os.path.join(out_dir, "sine_fit_contour.png")
    fig.savefig(file, dpi=110, bbox_inches="tight")
    print(f"contour plot written to {file}")


def main():
    args = parse_args("sine_fit", __doc__, iters=100)
    with Timer() as timer:
        path, losses = train(args.iters)
    o, t = path[-1]
    print(f"after {args.iters} steps ({timer.seconds:.3f} s): o = {o:.6f}, t = {t:.6f}, "
          f"loss {losses[0]:.5f} -> {losses[-1]:.5f}")
    err = np.max(np.abs(path - numpy_reference(args.iters)))
    check(err < 1e-9, f"descent path equals the numpy reference (max difference {err:.1e})")
    if args.iters >= 30:
        check(abs(o - 1.7) < 0.05 and abs(t - 0.3) < 0.05, "recovered (o, t) close to (1.7, 0.3)")
    else:
        print("note: fewer than 30 steps, convergence to (1.7, 0.3) not checked")
    plot(path, args.out)
    params, data = make_data()
    render_stages(graphad.grad(loss), (params, *data), args.out, args.no_render)


if __name__ == "__main__":
    main()

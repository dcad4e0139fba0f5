"""1-D linear regression y = w*x + b with dict parameters {'w', 'b'}.

The data is y = 4x + 10 plus noise. Trained with autograd's loop
(`graphad.optim.sgd_loop`: gradient descent with momentum 0.9 over a pytree)
fed by a compiled graphad gradient of the mean squared error. Checks: (w, b)
matches the least-squares solution and is close to (4, 10).
"""
import numpy as np

import graphad
from graphad import nn, optim

from _common import Timer, check, parse_args, render_stages

STEP_SIZE, MASS = 0.1, 0.9


def loss(params, x, y):
    return nn.mse(params["w"] * x + params["b"], y)


def make_data(n=100):
    r = np.random.default_rng(0)
    x = r.uniform(0.0, 2.0, n)
    y = 4.0 * x + 10.0 + 0.5 * r.standard_normal(n)
    return {"w": 0.0, "b": 0.0}, (x, y)


def train(iters, grad=None, callback=None):
    """autograd-style training; `grad` defaults to graphad.compile(graphad.grad)."""
    params, (x, y) = make_data()
    grad_loss = (grad or (lambda f: graphad.compile(graphad.grad(f))))(loss)
    return optim.sgd_loop(lambda p, i: grad_loss(p, x, y), params, callback=callback,
                          num_iters=iters, step_size=STEP_SIZE, mass=MASS)


def main():
    args = parse_args("linear_regression", __doc__, iters=300)
    _, (x, y) = make_data()

    def report(p, i, g):
        if i % max(args.iters // 5, 1) == 0:
            print(f"  iter {i:4d}  loss {float(loss(p, x, y)):10.5f}  w {float(p['w']):8.4f}  "
                  f"b {float(p['b']):8.4f}")

    with Timer() as timer:
        params = train(args.iters, callback=report)
    w, b = float(params["w"]), float(params["b"])
    w_ls, b_ls = np.polyfit(x, y, 1)
    print(f"after {args.iters} steps ({timer.seconds:.3f} s): w = {w:.5f}, b = {b:.5f}; "
          f"least squares: w = {w_ls:.5f}, b = {b_ls:.5f}")
    check(abs(w - w_ls) < 2e-3 and abs(b - b_ls) < 2e-3, "(w, b) equals the least-squares fit")
    check(abs(w - 4) < 0.2 and abs(b - 10) < 0.2, "recovered w ~ 4, b ~ 10")
    p0, data = make_data()
    render_stages(graphad.grad(loss), (p0, *data), args.out, args.no_render)


if __name__ == "__main__":
    main()

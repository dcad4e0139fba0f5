"""Fit sin(x) on [-pi, pi] with a cubic y = a + b x + c x^2 + d x^3 (polynomial features).

The seed is PyTorch's "Learning PyTorch with examples" warm-up. Here the
features are built inside the loss, the loss is half the mean squared error,
and a compiled step does loss + gradient + Adam update in one call. Checks: the
coefficients equal the least-squares solution of the same features.
"""
import numpy as np

import graphad
import graphad.numpy as gnp
from graphad import nn, optim

from _common import Timer, check, fit, parse_args, render_stages

DEGREE = 3
OPTIMIZER = optim.adam(step_size=0.02)


def features(x, degree):
    return gnp.stack([x ** k for k in range(degree + 1)], axis=1)


def loss(coef, x, y):
    return nn.mse(features(x, coef.shape[0] - 1) @ coef, y, half=True)


def make_data(n=2000):
    x = np.linspace(-np.pi, np.pi, n)
    return np.zeros(DEGREE + 1), (x, np.sin(x))


def train(iters, value_and_grad=None):
    return fit(loss, OPTIMIZER, *make_data(), iters, value_and_grad)


def main():
    args = parse_args("polynomial_regression", __doc__, iters=500)
    with Timer() as timer:
        coef, losses = train(args.iters)
    a, b, c, d = coef
    print(f"after {args.iters} steps ({timer.seconds:.3f} s), loss {losses[0]:.4f} -> {losses[-1]:.6f}")
    print(f"result: y = {a:.4f} {b:+.4f} x {c:+.4f} x^2 {d:+.4f} x^3")
    _, (x, y) = make_data()
    lstsq = np.linalg.lstsq(np.stack([x ** k for k in range(DEGREE + 1)], 1), y, rcond=None)[0]
    err = np.max(np.abs(coef - lstsq))
    print("least squares: " + ", ".join(f"{v:.4f}" for v in lstsq))
    check(err < 1e-3, f"coefficients equal the least-squares fit (max difference {err:.1e})")
    coef0, data = make_data()
    render_stages(graphad.grad(loss), (coef0, *data), args.out, args.no_render)


if __name__ == "__main__":
    main()

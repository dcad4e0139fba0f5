"""A sigmoid (logistic) classifier p = sigmoid(X w + b) on two 2-D Gaussian blobs.

The classifier from "Intro to AD": trained by gradient descent on the binary
cross-entropy, computed from the logits in its stable softplus form. Checks:
the gradient equals the closed form X^T (p - y) / n, and the trained classifier
separates the training data (accuracy >= 90%).
"""
import os

import numpy as np

import graphad
from graphad import nn, optim

from _common import Timer, check, fit, parse_args, pyplot, render_stages

OPTIMIZER = optim.sgd(step_size=0.5)


def logits(params, X):
    return X @ params["w"] + params["b"]


def predict(params, X):
    return nn.sigmoid(logits(params, X))


def loss(params, X, y):
    return nn.binary_cross_entropy(logits(params, X), y)


def make_data(n=200):
    r = np.random.default_rng(5)
    labels = (np.arange(n) % 2).astype(np.float64)
    centers = np.where(labels[:, None] == 1, [1.5, 1.0], [-1.0, -1.5])
    X = centers + r.standard_normal((n, 2))
    return {"w": np.zeros(2), "b": np.float64(0.0)}, (X, labels)


def train(iters, value_and_grad=None):
    return fit(loss, OPTIMIZER, *make_data(), iters, value_and_grad)


def plot(params, out_dir):
    plt = pyplot()
    if plt is None:
        return
    _, (X, y) = make_data()
    g0, g1 = np.meshgrid(np.linspace(-5, 5, 200), np.linspace(-5, 5, 200))
    p = predict(params, np.stack([g0.ravel(), g1.ravel()], 1)).reshape(g0.shape)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    cs = ax.contourf(g0, g1, p, levels=20, cmap="RdBu_r", alpha=0.6)
    fig.colorbar(cs, label="p(class 1)")
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=15)
    ax.contour(g0, g1, p, levels=[0.5], colors="k")
    file = os.path.join(out_dir, "sigmoid_classifier.png")
    fig.savefig(file, dpi=110, bbox_inches="tight")
    print(f"decision boundary plotted to {file}")


def main():
    args = parse_args("sigmoid_classifier", __doc__, iters=200)
    with Timer() as timer:
        params, losses = train(args.iters)
    _, (X, y) = make_data()
    p = predict(params, X)
    accuracy = np.mean((p > 0.5) == (y == 1))
    print(f"after {args.iters} steps ({timer.seconds:.3f} s): w = {params['w']}, b = {params['b']:.4f}, "
          f"loss {losses[0]:.4f} -> {losses[-1]:.4f}, training accuracy {accuracy:.1%}")
    g = graphad.compile(graphad.grad(loss))(params, X, y)
    err = max(np.max(np.abs(g["w"] - X.T @ (p - y) / y.size)), abs(g["b"] - np.mean(p - y)))
    check(err < 1e-12, f"gradient equals X^T (p - y) / n (max difference {err:.1e})")
    check(losses[-1] < losses[0], "the loss falls")
    check(accuracy >= 0.9, "training accuracy >= 90%")
    plot(params, args.out)
    params0, data = make_data()
    render_stages(graphad.grad(loss), (params0, *data), args.out, args.no_render)


if __name__ == "__main__":
    main()

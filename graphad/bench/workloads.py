"""The bundled workloads W1-W7: loss functions, their data, and hand gradients.

Each workload differentiates `fun(params, *data)` with respect to `params`
(argnums=0). `make(size)` builds parameters and data from a fixed seed;
`numpy_grad` is a hand-written vectorized numpy gradient used as a baseline
and as an independent check of the result.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import numpy as gnp


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    fun: Callable            # fun(params, *data) -> scalar loss, written with graphad.numpy
    make: Callable           # make() -> (params, data tuple)
    numpy_grad: Callable     # numpy_grad(params, *data) -> gradient with params' structure


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---- W1: sine fit ------------------------------------------------------------------

def sine_fit(params, x, y):
    o, t = params
    return 0.5 * gnp.mean((y - gnp.sin(o * x + t)) ** 2)


def _sine_data(n):
    def make():
        r = _rng(1)
        x = np.linspace(-3.0, 3.0, n)
        y = np.sin(1.7 * x + 0.3) + 0.1 * r.standard_normal(n)
        return (np.float64(1.0), np.float64(0.0)), (x, y)
    return make


def sine_fit_grad(params, x, y):
    o, t = params
    z = o * x + t
    r = (np.sin(z) - y) * np.cos(z) / x.size
    return (np.sum(r * x), np.sum(r))


# ---- W2: 1-4-4-1 ReLU MLP (autograd tutorial) ---------------------------------------

def relu_mlp(params, x, y):
    h = gnp.maximum(x @ params["W1"] + params["b1"], 0.0)
    h = gnp.maximum(h @ params["W2"] + params["b2"], 0.0)
    pred = h @ params["W3"] + params["b3"]
    return gnp.mean((pred - y) ** 2)


def _relu_mlp_make():
    r = _rng(2)
    x = np.linspace(-2.0, 2.0, 1000).reshape(-1, 1)
    y = np.sin(2 * x) + 0.05 * r.standard_normal(x.shape)
    params = {"W1": r.standard_normal((1, 4)), "b1": r.standard_normal(4),
              "W2": r.standard_normal((4, 4)) * 0.5, "b2": r.standard_normal(4),
              "W3": r.standard_normal((4, 1)) * 0.5, "b3": r.standard_normal(1)}
    return params, (x, y)


def relu_mlp_grad(p, x, y):
    z1 = x @ p["W1"] + p["b1"]; h1 = np.maximum(z1, 0)           # noqa: E702
    z2 = h1 @ p["W2"] + p["b2"]; h2 = np.maximum(z2, 0)          # noqa: E702
    pred = h2 @ p["W3"] + p["b3"]
    d = 2 * (pred - y) / y.size
    g = {"W3": h2.T @ d, "b3": d.sum(0)}
    d2 = (d @ p["W3"].T) * (z2 > 0)
    g.update(W2=h1.T @ d2, b2=d2.sum(0))
    d1 = (d2 @ p["W2"].T) * (z1 > 0)
    g.update(W1=x.T @ d1, b1=d1.sum(0))
    return g


# ---- W3: 784-256-256-10 tanh MLP, softmax cross-entropy, float32 ----------------------

def tanh_mlp(params, x, onehot):
    h = x
    for W, b in params[:-1]:
        h = gnp.tanh(h @ W + b)
    W, b = params[-1]
    logits = h @ W + b
    return gnp.mean(gnp.logsumexp(logits, axis=1) - gnp.sum(logits * onehot, axis=1))


def _tanh_mlp_make():
    r = _rng(3)
    sizes = (784, 256, 256, 10)
    params = [((r.standard_normal((m, n)) / np.sqrt(m)).astype(np.float32), np.zeros(n, np.float32))
              for m, n in zip(sizes[:-1], sizes[1:])]
    x = r.standard_normal((128, 784)).astype(np.float32)
    onehot = np.eye(10, dtype=np.float32)[r.integers(0, 10, 128)]
    return params, (x, onehot)


def tanh_mlp_grad(params, x, onehot):
    hs, h = [x], x
    for W, b in params[:-1]:
        h = np.tanh(h @ W + b)
        hs.append(h)
    W, b = params[-1]
    logits = h @ W + b
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = (p - onehot) / np.float32(x.shape[0])
    grads = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        W, _ = params[i]
        grads[i] = (hs[i].T @ d, d.sum(0))
        if i:
            d = (d @ W.T) * (1 - hs[i] ** 2)
    return grads


# ---- W4: logistic map, 20 layers --------------------------------------------------

def logistic_map(x):
    v = gnp.sigmoid(x)
    for _ in range(20):
        v = 4 * v * (1 - v)
    return gnp.sum(v)


def _logistic_make():
    return _rng(4).standard_normal(1_000_000), ()


def logistic_map_grad(x):
    s = 1 / (1 + np.exp(-x))
    vs = [s]
    for _ in range(20):
        vs.append(4 * vs[-1] * (1 - vs[-1]))
    g = np.ones_like(x)
    for v in reversed(vs[:-1]):
        g = g * (4 - 8 * v)
    return g * s * (1 - s)


# ---- W5: the four-scalar chain ----------------------------------------------------

def chain(params):
    w, x, y, z = params
    a = (w + x + y + z) ** 2
    b = (w + x - y - z) ** 2
    u = (a + b) ** 2
    v = (a - b) ** 2
    return (u + v) ** 2


def chain_grad(params):
    w, x, y, z = params
    s, d = w + x + y + z, w + x - y - z
    a, b = s * s, d * d
    u, v = (a + b) ** 2, (a - b) ** 2
    f_bar = 2 * (u + v)
    a_bar = f_bar * (2 * (a + b) + 2 * (a - b))
    b_bar = f_bar * (2 * (a + b) - 2 * (a - b))
    s_bar, d_bar = a_bar * 2 * s, b_bar * 2 * d
    return (s_bar + d_bar, s_bar + d_bar, s_bar - d_bar, s_bar - d_bar)


# ---- W6: logistic regression -------------------------------------------------------

def logistic_regression(params, X, y):
    w, b = params
    z = X @ w + b
    softplus = gnp.maximum(z, 0.0) + gnp.log1p(gnp.exp(-gnp.abs(z)))
    return gnp.mean(softplus - y * z)


def _logreg_make():
    r = _rng(6)
    X = r.standard_normal((100_000, 50))
    w_true = r.standard_normal(50)
    y = (X @ w_true + 0.5 * r.standard_normal(100_000) > 0).astype(np.float64)
    # A small random start: at w=0 every sample sits on the kink of abs(z), where peers
    # legitimately differ (JAX takes abs'(0)=1), which would make the comparison moot.
    return (0.01 * r.standard_normal(50), np.float64(0.01)), (X, y)


def logistic_regression_grad(params, X, y):
    w, b = params
    z = X @ w + b
    d = (1 / (1 + np.exp(-z)) - y) / y.size
    return (X.T @ d, np.sum(d))


# ---- W7: logsumexp of squares ------------------------------------------------------

def logsumexp_squares(y):
    return gnp.logsumexp(y ** 2)


def _lse_make():
    return _rng(7).standard_normal(1_000_000) * 0.5, ()


def logsumexp_squares_grad(y):
    s = y * y
    p = np.exp(s - s.max())
    return 2 * y * p / p.sum()


WORKLOADS = (
    Workload("W1-50", "sine fit 0.5*mean((y - sin(o*x+t))**2), N=50", sine_fit, _sine_data(50),
             sine_fit_grad),
    Workload("W1-1e6", "sine fit, N=1,000,000", sine_fit, _sine_data(1_000_000), sine_fit_grad),
    Workload("W2", "1-4-4-1 ReLU MLP on 1000 points, dict params", relu_mlp, _relu_mlp_make,
             relu_mlp_grad),
    Workload("W3", "784-256-256-10 tanh MLP, softmax cross-entropy, batch 128, float32", tanh_mlp,
             _tanh_mlp_make, tanh_mlp_grad),
    Workload("W4", "sigmoid then v=4v(1-v) x20, sum, x of 1e6 float64", logistic_map,
             _logistic_make, logistic_map_grad),
    Workload("W5", "four-scalar chain a=(w+x+y+z)**2 ... f=(u+v)**2", chain,
             lambda: ((-1.0, 0.0, -2.0, 1.0), ()), chain_grad),
    Workload("W6", "logistic regression, X 100,000x50, mean BCE (softplus form)",
             logistic_regression, _logreg_make, logistic_regression_grad),
    Workload("W7", "logsumexp(y**2), y of 1,000,000", logsumexp_squares, _lse_make,
             logsumexp_squares_grad),
)
BY_NAME = {w.name: w for w in WORKLOADS}


# ---- training runs from the seeds, timed as whole runs -----------------------------

@dataclass(frozen=True)
class TrainingWorkload:
    name: str
    description: str
    fun: Callable            # loss(params, *data), written with graphad.numpy
    make: Callable           # make() -> (params, data tuple)
    steps: int
    step_size: float
    mass: float = 0.0        # sgd momentum as in autograd's misc.optimizers.sgd; 0: plain descent
    quick_steps: int = 20


def linear_regression(params, x, y):
    return gnp.mean((params["w"] * x + params["b"] - y) ** 2)


def _linreg_make():
    r = _rng(8)
    x = np.linspace(-1.0, 1.0, 100)
    y = 2.0 * x + 1.0 + 0.1 * r.standard_normal(100)
    return {"w": np.float64(0.0), "b": np.float64(0.0)}, (x, y)


def polynomial_regression(params, features, y):
    a, coeffs = params
    return gnp.sum((a + features @ coeffs - y) ** 2)


def _polyreg_make():
    r = _rng(9)
    x = np.linspace(-np.pi, np.pi, 2000)
    features = np.stack([x, x ** 2, x ** 3], axis=1)
    return (np.float64(r.standard_normal()), r.standard_normal(3)), (features, np.sin(x))


TRAINING = (
    TrainingWorkload("linreg-train", "1-D linear regression w*x + b, dict params, 100 points, "
                     "200 steps of gradient descent", linear_regression, _linreg_make,
                     steps=200, step_size=0.1),
    TrainingWorkload("polyreg-train", "sin(x) ~ a + b*x + c*x^2 + d*x^3 on 2000 points, sum of "
                     "squares, 2000 steps of gradient descent (the PyTorch tutorial)",
                     polynomial_regression, _polyreg_make, steps=2000, step_size=1e-6),
    TrainingWorkload("mlp-train", "the W2 1-4-4-1 ReLU MLP, 300 steps of sgd with momentum 0.9",
                     relu_mlp, _relu_mlp_make, steps=300, step_size=0.01, mass=0.9),
)
TRAINING_BY_NAME = {w.name: w for w in TRAINING}

"""The seed tutorials' examples, as a user would write them, compiled end to end."""
import numpy as np
import pytest

import graphad
import graphad.numpy as gnp

BACKEND = "numpy"   # the numba backend runs a representative subset in its own tests


def tanh_by_hand(x):
    y = gnp.exp(-x)
    return (1.0 - y) / (1.0 + y)


def four_variable_chain(w, x, y, z):
    a = (w + x + y + z) ** 2
    b = (w + x - y - z) ** 2
    u = (a + b) ** 2
    v = (a - b) ** 2
    return (u + v) ** 2


def test_tanh_written_by_hand_has_the_seed_gradient():
    g = graphad.compile(graphad.grad(tanh_by_hand), backend=BACKEND)
    assert g(1.0) == pytest.approx(0.39322386648296376, rel=1e-15)
    # (1 - e^-x) / (1 + e^-x) is tanh(x/2), whose derivative is (1 - tanh(x/2)**2) / 2
    assert graphad.grad(tanh_by_hand)(1.0) == pytest.approx((1 - np.tanh(0.5) ** 2) / 2, rel=1e-14)


def test_four_variable_chain_partials_are_all_minus_4096():
    g = graphad.compile(graphad.grad(four_variable_chain, argnums=(0, 1, 2, 3)), backend=BACKEND)
    assert g(-1.0, 0.0, -2.0, 1.0) == (-4096.0, -4096.0, -4096.0, -4096.0)


def test_linear_regression_with_dict_params_recovers_w_and_b():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 200)
    y = 4.0 * x + 10.0 + 0.01 * rng.standard_normal(200)

    def loss(params, x, y):
        return gnp.mean((params["w"] * x + params["b"] - y) ** 2)

    step = graphad.compile(graphad.grad(loss), backend=BACKEND)
    params = {"w": 0.0, "b": 0.0}
    for _ in range(500):
        g = step(params, x, y)
        params = {k: params[k] - 0.3 * g[k] for k in params}
    assert params["w"] == pytest.approx(4.0, abs=0.02)
    assert params["b"] == pytest.approx(10.0, abs=0.02)
    assert step.cache_info()["signatures"] == 1


def test_relu_network_1_4_4_1_trains():
    rng = np.random.default_rng(1)
    x = np.linspace(-2, 2, 64).reshape(-1, 1)
    y = np.sin(2 * x)
    params = [(rng.standard_normal((1, 4)), np.zeros(4)), (rng.standard_normal((4, 4)) * 0.5, np.zeros(4)),
              (rng.standard_normal((4, 1)) * 0.5, np.zeros(1))]

    def loss(params, x, y):
        h = x
        for W, b in params[:-1]:
            h = gnp.maximum(h @ W + b, 0.0)
        W, b = params[-1]
        return gnp.mean((h @ W + b - y) ** 2)

    value_and_grad = graphad.compile(graphad.value_and_grad(loss), backend=BACKEND)
    first, _ = value_and_grad(params, x, y)
    velocity = [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]
    for _ in range(300):
        value, g = value_and_grad(params, x, y)
        velocity = [(0.9 * vW - 0.05 * gW, 0.9 * vb - 0.05 * gb) for (vW, vb), (gW, gb) in zip(velocity, g)]
        params = [(W + vW, b + vb) for (W, b), (vW, vb) in zip(params, velocity)]
    assert value < 0.5 * first
    assert np.isclose(value, loss(params, x, y), rtol=0.2)

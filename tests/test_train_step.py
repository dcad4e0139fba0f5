"""A whole training step (loss, gradient, optimizer update) compiled into one function
gives the parameters of the uncompiled loop."""
import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad import nn, optim
from graphad.tree import tree_leaves

N_STEPS = 8


def mlp_loss(params, x, y):
    h = nn.relu(x @ params["W1"] + params["b1"])
    h = nn.relu(h @ params["W2"] + params["b2"])
    return nn.mse(h @ params["W3"] + params["b3"], y)


def mlp_problem(dtype=np.float64):
    r = np.random.default_rng(2)
    x = np.linspace(-2.0, 2.0, 40).reshape(-1, 1)
    y = np.sin(2 * x)
    params = {"W1": r.standard_normal((1, 4)), "b1": r.standard_normal(4),
              "W2": r.standard_normal((4, 4)) * 0.5, "b2": r.standard_normal(4),
              "W3": r.standard_normal((4, 1)) * 0.5, "b3": r.standard_normal(1)}
    cast = lambda a: np.asarray(a, dtype)  # noqa: E731
    return {k: cast(v) for k, v in params.items()}, (cast(x), cast(y))


def poly_loss(coef, x, y):
    features = gnp.stack([x ** k for k in range(coef.shape[0])], axis=1)
    return nn.mse(features @ coef, y, half=True)


def poly_problem(dtype=np.float64):
    x = np.linspace(-1.0, 1.0, 30)
    y = 1.0 - 2.0 * x + 0.5 * x ** 3
    return np.zeros(4, dtype), (x.astype(dtype), y.astype(dtype))


def uncompiled_loop(loss, opt, params, data, n):
    value_and_grad = graphad.value_and_grad(loss)
    state = opt.init(params)
    losses = []
    for _ in range(n):
        value, grads = value_and_grad(params, *data)
        params, state = opt.update(grads, state, params)
        losses.append(value)
    return params, state, losses


def compiled_loop(loss, opt, params, data, n):
    step = optim.training_step(loss, opt)
    state = opt.init(params)
    losses = []
    for _ in range(n):
        params, state, value = step(params, state, *data)
        losses.append(value)
    return params, state, losses, step


PROBLEMS = [
    ("mlp-sgd-momentum", mlp_loss, mlp_problem, optim.sgd(0.05, mass=0.9)),
    ("mlp-adam", mlp_loss, mlp_problem, optim.adam(0.01)),
    ("poly-sgd", poly_loss, poly_problem, optim.sgd(0.3)),
    ("poly-rmsprop", poly_loss, poly_problem, optim.rmsprop(0.01)),
]


@pytest.mark.parametrize("name, loss, problem, opt", PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_compiled_step_matches_uncompiled_loop(name, loss, problem, opt):
    params, data = problem()
    expect, expect_state, expect_losses = uncompiled_loop(loss, opt, params, data, N_STEPS)
    got, got_state, got_losses, step = compiled_loop(loss, opt, params, data, N_STEPS)
    for a, b in zip(tree_leaves((got, got_state)), tree_leaves((expect, expect_state))):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(got_losses, expect_losses, rtol=1e-10)
    assert got_losses[-1] < got_losses[0]                 # it trains
    assert step.cache_info()["signatures"] == 1            # state round-trips without retracing


def test_step_is_one_graph():
    """Loss, gradient and update live in one graph whose outputs are params, state, loss."""
    params, data = mlp_problem()
    opt = optim.adam(0.01)
    state = opt.init(params)
    stages = optim.training_step(mlp_loss, opt).inspect(params, state, *data)
    graph = stages.optimized
    n_params = len(tree_leaves(params))
    assert len(graph.outputs) == n_params + 1 + 2 * n_params + 1     # params, count, m, v, loss
    prims = {node.prim.name for node in graph.nodes}
    assert {"dot_general", "sqrt"} <= prims                          # forward/backward and adam
    assert [v.type.dtype for v in graph.outputs][n_params] == np.int32


def test_float32_training_step_stays_float32():
    params, data = mlp_problem(np.float32)
    opt = optim.adam(0.01)
    step = optim.training_step(mlp_loss, opt)
    state = opt.init(params)
    for _ in range(3):
        params, state, value = step(params, state, *data)
    assert np.asarray(value).dtype == np.float32
    assert all(np.asarray(leaf).dtype == np.float32 for leaf in tree_leaves(params))
    assert step.cache_info()["signatures"] == 1
    p64, _ = mlp_problem()
    expect, _, _ = uncompiled_loop(mlp_loss, opt, p64, mlp_problem()[1], 3)
    for a, b in zip(tree_leaves(params), tree_leaves(expect)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_uncompiled_training_step():
    params, data = poly_problem()
    opt = optim.momentum(0.1)
    step = optim.training_step(poly_loss, opt, compile=False)
    assert not isinstance(step, graphad.Staged)
    p, s = params, opt.init(params)
    for _ in range(4):
        p, s, _ = step(p, s, *data)
    expect, _, _ = uncompiled_loop(poly_loss, opt, params, data, 4)
    np.testing.assert_allclose(p, expect, rtol=1e-14)

"""graphad.optim: every optimizer against a hand-written numpy update, step by step."""
import numpy as np
import pytest

import graphad
from graphad import optim
from graphad.tree import tree_leaves

RNG = np.random.default_rng(0)
A = RNG.standard_normal((8, 3))
Y = RNG.standard_normal(8)
STEPS = 20


def loss_grad(p):
    """Hand gradient of mean((A w + b - y)**2) + 0.1 * sum(w**4): a small non-quadratic problem."""
    r = A @ p["w"] + p["b"] - Y
    return {"w": 2 * A.T @ r / r.size + 0.4 * p["w"] ** 3, "b": 2 * np.mean(r)}


def init_params(dtype=np.float64):
    return {"w": np.array([0.5, -1.0, 2.0], dtype), "b": dtype(0.3)}


# ---- hand-written references: one dict of numpy arrays, one formula a line ---------

def ref_sgd(lr, mass):
    v = {k: 0.0 for k in ("w", "b")}

    def step(p, g, i):
        for k in p:
            v[k] = mass * v[k] - (1 - mass) * g[k]
            p[k] = p[k] + lr * v[k]
    return step


def ref_plain_sgd(lr):
    def step(p, g, i):
        for k in p:
            p[k] = p[k] - lr * g[k]
    return step


def ref_momentum(lr, mass, nesterov):
    v = {k: 0.0 for k in ("w", "b")}

    def step(p, g, i):
        for k in p:
            v[k] = mass * v[k] + g[k]
            p[k] = p[k] - lr * (g[k] + mass * v[k] if nesterov else v[k])
    return step


def ref_rmsprop(lr, gamma, eps, a0):
    a = {k: a0 for k in ("w", "b")}

    def step(p, g, i):
        for k in p:
            a[k] = gamma * a[k] + (1 - gamma) * g[k] ** 2
            p[k] = p[k] - lr * g[k] / (np.sqrt(a[k]) + eps)
    return step


def ref_adam(lr, b1, b2, eps):
    m = {k: 0.0 for k in ("w", "b")}
    v = {k: 0.0 for k in ("w", "b")}

    def step(p, g, i):
        t = i + 1
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            m_hat, v_hat = m[k] / (1 - b1 ** t), v[k] / (1 - b2 ** t)
            p[k] = p[k] - lr * m_hat / (np.sqrt(v_hat) + eps)
    return step


CASES = [
    ("sgd", optim.sgd(0.1), ref_plain_sgd(0.1)),
    ("sgd-mass", optim.sgd(0.3, mass=0.9), ref_sgd(0.3, 0.9)),
    ("momentum", optim.momentum(0.05, 0.8), ref_momentum(0.05, 0.8, nesterov=False)),
    ("nesterov", optim.nesterov(0.05, 0.8), ref_momentum(0.05, 0.8, nesterov=True)),
    ("rmsprop", optim.rmsprop(0.01, 0.9, 1e-8), ref_rmsprop(0.01, 0.9, 1e-8, 0.0)),
    ("rmsprop-ones", optim.rmsprop(0.05, 0.8, 1e-6, initial_scale=1.0),
     ref_rmsprop(0.05, 0.8, 1e-6, 1.0)),
    ("adam", optim.adam(0.05), ref_adam(0.05, 0.9, 0.999, 1e-8)),
    ("adam-b", optim.adam(0.02, b1=0.5, b2=0.9, eps=1e-4), ref_adam(0.02, 0.5, 0.9, 1e-4)),
]


def assert_params_close(p, q, rtol=1e-12):
    assert sorted(p) == sorted(q)
    for k in p:
        np.testing.assert_allclose(p[k], q[k], rtol=rtol, atol=1e-300)


@pytest.mark.parametrize("name, opt, ref", CASES, ids=[c[0] for c in CASES])
def test_trajectory_matches_numpy(name, opt, ref):
    params, expect = init_params(), init_params()
    state = opt.init(params)
    moved = 0.0
    for i in range(STEPS):
        params, state = opt.update(loss_grad(params), state, params)
        ref(expect, loss_grad(expect), i)
        assert_params_close(params, expect)
        moved = np.abs(params["w"] - init_params()["w"]).max()
    assert moved > 1e-3          # the trajectory went somewhere


@pytest.mark.parametrize("name, opt, ref", CASES[:1] + CASES[4:7:2], ids=["sgd", "rmsprop", "adam"])
def test_traced_update_matches_eager(name, opt, ref):
    """The update records into a graph: compiled, it gives the eager trajectory."""
    update = graphad.compile(opt.update)
    p_eager = p_comp = init_params()
    s_eager = s_comp = opt.init(p_eager)
    for _ in range(5):
        p_eager, s_eager = opt.update(loss_grad(p_eager), s_eager, p_eager)
        p_comp, s_comp = update(loss_grad(p_comp), s_comp, p_comp)
    assert_params_close(p_comp, p_eager)
    for a, b in zip(tree_leaves(s_comp), tree_leaves(s_eager)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


@pytest.mark.parametrize("opt", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_float32_stays_float32(opt):
    params = init_params(np.float32)
    grads = {k: np.asarray(g, np.float32) for k, g in loss_grad(params).items()}
    state = opt.init(params)
    for _ in range(3):
        params, state = opt.update(grads, state, params)
    for leaf in tree_leaves(params):
        assert np.asarray(leaf).dtype == np.float32
    for leaf in tree_leaves(state):
        assert np.asarray(leaf).dtype in (np.float32, np.int32)
    out = graphad.compile(opt.update).inspect(grads, state, params).optimized
    assert [str(v.type.dtype) for v in out.outputs] == [
        str(np.asarray(leaf).dtype) for leaf in tree_leaves((params, state))]


def autograd_reference(kind, **h):
    """The loops of autograd.misc.optimizers, transcribed on a flat vector."""
    def run(grad, x, callback, num_iters):
        v = np.zeros(len(x))
        a = np.ones(len(x))
        m = np.zeros(len(x))
        for i in range(num_iters):
            g = grad(x, i)
            callback(x, i, g)
            if kind == "sgd":
                v = h["mass"] * v - (1.0 - h["mass"]) * g
                x = x + h["step_size"] * v
            elif kind == "rmsprop":
                a = a * h["gamma"] + g ** 2 * (1 - h["gamma"])
                x = x - h["step_size"] * g / (np.sqrt(a) + h["eps"])
            else:
                m = (1 - h["b1"]) * g + h["b1"] * m
                v = (1 - h["b2"]) * (g ** 2) + h["b2"] * v
                mhat = m / (1 - h["b1"] ** (i + 1))
                vhat = v / (1 - h["b2"] ** (i + 1))
                x = x - h["step_size"] * mhat / (np.sqrt(vhat) + h["eps"])
        return x
    return run


LOOPS = [
    ("sgd", optim.sgd_loop, dict(step_size=0.1, mass=0.9)),
    ("rmsprop", optim.rmsprop_loop, dict(step_size=0.1, gamma=0.9, eps=1e-8)),
    ("adam", optim.adam_loop, dict(step_size=0.001, b1=0.9, b2=0.999, eps=1e-8)),
]


@pytest.mark.parametrize("kind, loop, defaults", LOOPS, ids=[c[0] for c in LOOPS])
def test_loops_match_autograd(kind, loop, defaults):
    """`*_loop` keep autograd's defaults and trajectory; grad_fn gets (params, i)."""
    def flat_grad(x, i):
        g = loss_grad({"w": x[:3], "b": x[3]})
        return np.concatenate([g["w"], [g["b"]]]) * (1 + 0.1 * i)

    seen, seen_ref = [], []
    x0 = np.array([0.5, -1.0, 2.0, 0.3])
    got = loop(lambda p, i: flat_grad(p, i), x0, num_iters=STEPS,
               callback=lambda p, i, g: seen.append((i, p.copy(), g.copy())))
    expect = autograd_reference(kind, **defaults)(
        flat_grad, x0, lambda p, i, g: seen_ref.append((i, p.copy(), g.copy())), STEPS)
    np.testing.assert_allclose(got, expect, rtol=1e-12)
    assert [s[0] for s in seen] == list(range(STEPS))
    for (_, p, g), (_, p_ref, g_ref) in zip(seen, seen_ref):
        np.testing.assert_allclose(p, p_ref, rtol=1e-12)
        np.testing.assert_allclose(g, g_ref, rtol=1e-12)


def test_loop_on_dict_params_with_graphad_grad():
    """The seed's pattern: autograd-style sgd over a dict, gradient from graphad."""
    x = np.linspace(-1, 1, 20)
    y = 4 * x + 10

    def loss(p, i):
        return graphad.numpy.mean((p["w"] * x + p["b"] - y) ** 2)

    out = optim.sgd_loop(graphad.grad(loss), {"w": 0.0, "b": 0.0}, num_iters=400, step_size=0.1)
    np.testing.assert_allclose([out["w"], out["b"]], [4.0, 10.0], atol=1e-3)


@pytest.mark.parametrize("make, bad", [
    (lambda: optim.sgd(step_size=0.0), "step_size"),
    (lambda: optim.sgd(0.1, mass=1.0), "mass"),
    (lambda: optim.adam(b2=1.5), "b2"),
    (lambda: optim.rmsprop(eps=-1.0), "eps"),
])
def test_bad_hyperparameters(make, bad):
    with pytest.raises(graphad.GraphadError, match=bad):
        make()


def test_grads_with_wrong_structure():
    opt = optim.adam()
    params = init_params()
    with pytest.raises(graphad.GraphadError, match="grads have structure"):
        opt.update({"w": np.zeros(3)}, opt.init(params), params)

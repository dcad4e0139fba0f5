"""Jacobians, Hessians, nesting, and the batching pass they are built on."""
from __future__ import annotations

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.backends.numpy import evaluate
from graphad.passes.batching import RULES, batch_graph, batch_rule, _unrolled
from graphad.prims import ALL_PRIMITIVES
from graphad.prims import indexing as I
from graphad.testing import numerical_grad
from graphad.trace import trace_function
from graphad.tree import tree_leaves

from op_cases import CASES, make_args, primitives_in


# ---- the batching pass: batched graph == the graph applied per example -----------------

# Primitives the op suite may not reach yet, called directly: (name, fn, args).
_IDX = np.array([[2, 0], [1, 1]])
EXTRA = [
    ("gather/x", lambda x: I.gather(x, _IDX, 1), (np.arange(12.0).reshape(4, 3),)),
    ("gather/idx", lambda x, i: I.gather(x, i, 0), (np.arange(12.0).reshape(4, 3), np.array([3, 0, 1]))),
    ("gather/both", lambda i, x: I.gather(x, i, 0), (np.array([3, 0]), np.arange(8.0).reshape(4, 2))),
    ("scatter_add", lambda g: I.scatter_add(g, _IDX, 0, 3), (np.arange(20.0).reshape(2, 2, 5),)),
    ("scatter_add/idx", lambda i, g: I.scatter_add(g, i, 1, 4), (np.array([0, 3, 0]), np.ones((2, 3)))),
    ("argsort", lambda x: I.argsort(x, 1), (np.array([[3.0, 1.0, 2.0], [0.0, -1.0, 5.0]]),)),
]
BATCH_CASES = [(c.name, c.fn, tuple(make_args(c))) for c in CASES if c.args] + EXTRA


@pytest.mark.parametrize("name, fn, args", BATCH_CASES, ids=[c[0] for c in BATCH_CASES])
def test_batched_graph_equals_per_example_evaluation(name, fn, args):
    graph = trace_function(fn, args).graph
    size = 3
    rng = np.random.default_rng(2)
    # Batch every other input (all of them when there is one), so mixed operands are covered.
    batched = [i for i in range(len(args)) if i % 2 == 0]
    stacks = {i: np.stack([args[i]] + [_perturb(args[i], rng) for _ in range(size - 1)])
              for i in batched}
    big, flags = batch_graph(graph, batched, size)
    big.verify()
    outs = evaluate(big, [stacks[i] if i in stacks else a for i, a in enumerate(args)])
    for b in range(size):
        want = evaluate(graph, [stacks[i][b] if i in stacks else a for i, a in enumerate(args)])
        for o, w, flag in zip(outs, want, flags):
            got = np.asarray(o)[b] if flag else np.asarray(o)
            np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-12, err_msg=name)


def _perturb(a, rng):
    if a.dtype.kind == "f":
        return (a + 0.1 * rng.standard_normal(a.shape)).astype(a.dtype)
    if a.dtype == np.bool_:
        return ~a
    return a[::-1].copy() if a.ndim else a    # a permutation keeps indices in range


# Batched by applying them per batch element (correct; the graph grows with the batch).
UNROLLED_BY_DESIGN = {"constant", "solve", "cholesky", "slogdet", "eigh"}


def test_every_primitive_outside_control_flow_has_a_batching_rule():
    missing = {p.name for p in ALL_PRIMITIVES if p.kind != "control" and batch_rule(p) is _unrolled}
    assert missing - UNROLLED_BY_DESIGN == set()


def test_the_op_suite_exercises_every_batching_rule():
    used = set()
    for _, fn, args in BATCH_CASES:
        used |= primitives_in(trace_function(fn, args).graph)
    # Every primitive-specific rule, and each family rule (elementwise, reduction) at least
    # once; new primitives of a family are checked by the test above once they have a case.
    assert {p.name for p in RULES} - used == set()
    for kind in ("elementwise", "reduction"):
        assert any(p.kind == kind and p.name in used for p in ALL_PRIMITIVES)


def test_unrolled_fallback_for_a_primitive_without_a_rule():
    @graphad.custom_vjp
    def f(x, y):
        return gnp.sin(x) * y
    f.defvjp(lambda x, y: (f(x, y), (x, y)), lambda r, g: (g * gnp.cos(r[0]) * r[1], g * gnp.sin(r[0])))
    graph = trace_function(f, (np.ones(3), np.ones(3))).graph
    assert graph.nodes[0].prim.name == "custom_vjp_call"
    big, flags = batch_graph(graph, [0], 4)
    xs, y = np.random.default_rng(0).standard_normal((4, 3)), np.arange(3.0)
    np.testing.assert_allclose(evaluate(big, [xs, y])[0], np.sin(xs) * y, rtol=1e-15)


# ---- jacfwd == jacrev == finite differences -----------------------------------------

def five_in_three_out(a, b, c, d, e):
    """5 inputs of mixed shapes, 3 outputs of mixed shapes (nothing square)."""
    h = gnp.tanh(a @ b + c)                    # (2, 4)
    return (gnp.sum(h * d, axis=1),            # (2,)
            gnp.exp(0.1 * e) * gnp.sum(h),     # (3, 1)
            (a * a).T @ gnp.sin(h) * e[0, 0])  # (3, 4)


def _five_args(rng):
    return (rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4),
            rng.standard_normal((2, 4)), rng.standard_normal((3, 1)))


def _numerical_jacobian(f, args, argnum):
    """Numerical Jacobian block per output leaf: shape out + in."""
    outs = tree_leaves(f(*args))
    blocks = []
    for k, o in enumerate(outs):
        rows = np.zeros(np.shape(o) + np.shape(args[argnum]))
        for idx in np.ndindex(np.shape(o)):
            scalar = lambda *xs, k=k, idx=idx: tree_leaves(f(*xs))[k][idx]  # noqa: E731
            rows[idx] = numerical_grad(scalar, args, argnum)
        blocks.append(rows)
    return blocks


def test_jacfwd_equals_jacrev_on_five_inputs_three_outputs():
    args = _five_args(np.random.default_rng(0))
    argnums = (0, 1, 2, 3, 4)
    jf = graphad.jacfwd(five_in_three_out, argnums)(*args)
    jr = graphad.jacrev(five_in_three_out, argnums)(*args)
    assert isinstance(jf, tuple) and len(jf) == 3 and all(len(j) == 5 for j in jf)
    for j_out_f, j_out_r, o in zip(jf, jr, five_in_three_out(*args)):
        for block_f, block_r, a in zip(j_out_f, j_out_r, args):
            assert block_f.shape == np.shape(o) + a.shape
            np.testing.assert_allclose(block_f, block_r, rtol=1e-12, atol=1e-13)
    for argnum in argnums:
        numeric = _numerical_jacobian(five_in_three_out, args, argnum)
        for got, want in zip([j[argnum] for j in jr], numeric):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_jacobian_pytree_layout_like_jax():
    def f(p, x):
        return {"out": gnp.tanh(x @ p["W"] + p["b"]), "reg": gnp.sum(p["W"] ** 2)}
    rng = np.random.default_rng(1)
    p = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    x = rng.standard_normal((5, 3))
    for jac in (graphad.jacfwd, graphad.jacrev, graphad.jacobian):
        j = jac(f)(p, x)
        assert set(j) == {"out", "reg"} and set(j["out"]) == {"W", "b"}
        assert j["out"]["W"].shape == (5, 2, 3, 2) and j["out"]["b"].shape == (5, 2, 2)
        assert j["reg"]["W"].shape == (3, 2) and j["reg"]["b"].shape == (2,)
        np.testing.assert_allclose(j["reg"]["W"], 2 * p["W"], rtol=1e-14)
        np.testing.assert_array_equal(j["reg"]["b"], np.zeros(2))
        # d out[i, k] / d b[m] = (1 - out^2)[i, k] * delta(k, m)
        out = np.tanh(x @ p["W"] + p["b"])
        np.testing.assert_allclose(j["out"]["b"], (1 - out ** 2)[:, :, None] * np.eye(2), rtol=1e-13)
    j = graphad.jacrev(f, argnums=(0, 1))(p, x)
    assert isinstance(j["out"], tuple) and j["out"][1].shape == (5, 2, 5, 3)


def test_jacobian_of_scalar_input_and_scalar_output():
    assert graphad.jacfwd(gnp.sin)(0.3) == pytest.approx(np.cos(0.3))
    assert graphad.jacrev(gnp.sin)(0.3) == pytest.approx(np.cos(0.3))
    j = graphad.jacfwd(lambda x: gnp.sum(x ** 3))(np.arange(3.0))
    np.testing.assert_allclose(j, 3 * np.arange(3.0) ** 2)


def test_a_jacobian_is_one_graph_whose_size_does_not_grow_with_the_basis():
    f = lambda x: gnp.tanh(x[:2] * gnp.sum(gnp.sin(x)))  # noqa: E731
    for jac in (graphad.jacfwd, graphad.jacrev):
        small = graphad.inspect(jac(f), np.ones(5)).optimized.count_nodes()
        large = graphad.inspect(jac(f), np.ones(50)).optimized.count_nodes()
        assert small == large


def test_jacobian_errors_name_the_problem():
    with pytest.raises(graphad.GraphadError, match="float inputs"):
        graphad.jacrev(lambda i: i * 2.0)(np.arange(3))
    with pytest.raises(graphad.GraphadError, match="float outputs"):
        graphad.jacfwd(lambda x: gnp.argmax(x))(np.ones(3))
    with pytest.raises(graphad.GraphadError, match="argnums=2"):
        graphad.jacrev(lambda x, y: x * y, argnums=2)(1.0, 2.0)


# ---- Hessians and nesting ---------------------------------------------------------------

def rosenbrock_ish(x):
    return gnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2) + gnp.sum(gnp.tanh(x) ** 3)


def test_hessian_matches_finite_differences_of_the_gradient_and_is_symmetric():
    x = np.random.default_rng(3).standard_normal(6) * 0.5
    h = graphad.hessian(rosenbrock_ish)(x)
    g = graphad.grad(rosenbrock_ish)
    fd = np.stack([(g(x + 1e-6 * e) - g(x - 1e-6 * e)) / 2e-6 for e in np.eye(6)], axis=1)
    np.testing.assert_allclose(h, fd, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(h, h.T, rtol=1e-13, atol=1e-11)


def test_hessian_of_several_arguments_nests_tuples():
    f = lambda x, y: gnp.sum(gnp.sin(x) * y ** 2)  # noqa: E731
    x, y = np.array([0.1, 0.2]), np.array([1.0, -2.0])
    h = graphad.hessian(f, argnums=(0, 1))(x, y)
    assert h[0][1].shape == (2, 2)
    np.testing.assert_allclose(h[0][0], np.diag(-np.sin(x) * y ** 2), rtol=1e-14)
    np.testing.assert_allclose(h[0][1], np.diag(np.cos(x) * 2 * y), rtol=1e-14)
    np.testing.assert_allclose(h[1][0], h[0][1].T, rtol=1e-14)
    np.testing.assert_allclose(h[1][1], np.diag(2 * np.sin(x)), rtol=1e-14)


def test_grad_grad_tanh_matches_the_closed_form():
    x = np.linspace(-2, 2, 7)
    d2 = [graphad.grad(graphad.grad(gnp.tanh))(v) for v in x]
    t = np.tanh(x)
    np.testing.assert_allclose(d2, -2 * t * (1 - t ** 2), rtol=1e-13, atol=1e-15)
    d3 = graphad.grad(graphad.grad(graphad.grad(gnp.tanh)))(0.4)
    t = np.tanh(0.4)
    assert d3 == pytest.approx(-2 * (1 - t ** 2) * (1 - 3 * t ** 2), rel=1e-12)


def test_every_nesting_order_agrees():
    f = lambda x: gnp.sum(gnp.exp(-x ** 2) * gnp.cos(x[::-1]))  # noqa: E731
    x = np.array([0.2, -0.4, 1.1])
    ref = graphad.hessian(f)(x)
    np.testing.assert_allclose(graphad.jacrev(graphad.jacrev(f))(x), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(graphad.jacfwd(graphad.jacfwd(f))(x), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(graphad.jacrev(graphad.jacfwd(f))(x), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(graphad.jacfwd(graphad.grad(f))(x), ref, rtol=1e-12, atol=1e-14)
    hv = np.stack([graphad.grad(lambda x, v=v: gnp.sum(graphad.grad(f)(x) * v))(x) for v in np.eye(3)])
    np.testing.assert_allclose(hv, ref, rtol=1e-12, atol=1e-14)


def test_grad_of_a_compiled_grad():
    f = lambda x: gnp.sum(gnp.sin(x) ** 2)  # noqa: E731
    x = np.array([0.3, 1.0])
    inner = graphad.compile(graphad.grad(f), backend="numpy")
    outer = graphad.grad(lambda x: gnp.sum(inner(x)))
    np.testing.assert_allclose(outer(x), 2 * np.cos(2 * x), rtol=1e-13)


def test_compiled_jacrev_and_hessian_with_the_default_backend():
    # The only compilations in this file: one Jacobian, one Hessian.
    x = np.random.default_rng(4).standard_normal(4)
    jac = graphad.compile(graphad.jacrev(lambda x: gnp.tanh(x[:3]) * gnp.sum(x)))
    want = graphad.jacrev(lambda x: gnp.tanh(x[:3]) * gnp.sum(x))(x)
    np.testing.assert_allclose(jac(x), want, rtol=1e-12, atol=1e-14)
    hess = graphad.compile(graphad.hessian(rosenbrock_ish))
    np.testing.assert_allclose(hess(x), graphad.hessian(rosenbrock_ish)(x), rtol=1e-12, atol=1e-10)
    hess.inspect(x).fused.verify()


def test_hessian_of_a_two_layer_tanh_network():
    def loss(w, x, y):
        h = gnp.tanh(x @ w["W1"] + w["b1"])
        return 0.5 * gnp.mean((gnp.tanh(h @ w["W2"]) - y) ** 2)
    rng = np.random.default_rng(5)
    w = {"W1": rng.standard_normal((3, 4)) * 0.5, "b1": rng.standard_normal(4) * 0.1,
         "W2": rng.standard_normal((4, 2)) * 0.5}
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    h = graphad.hessian(loss)(w, x, y)
    assert h["W1"]["W2"].shape == (3, 4, 4, 2)
    np.testing.assert_allclose(h["W1"]["W2"], np.transpose(h["W2"]["W1"], (2, 3, 0, 1)),
                               rtol=1e-12, atol=1e-14)
    g = graphad.grad(loss)
    e = np.zeros((4, 2))
    e[1, 0] = 1e-6
    bump = lambda s: {**w, "W2": w["W2"] + s * e}  # noqa: E731
    fd = (g(bump(1), x, y)["b1"] - g(bump(-1), x, y)["b1"]) / 2e-6
    np.testing.assert_allclose(h["b1"]["W2"][:, 1, 0], fd, rtol=1e-6, atol=1e-8)

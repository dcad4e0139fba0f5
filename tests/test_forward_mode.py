"""Forward mode as a graph pass (graphad/passes/forward_mode.py) and graphad.jvp.

Over the op suite (tests/op_cases.py): the forward-mode graph's tangents match
central differences, and <u, jvp(v)> == <vjp(u), v> against the reverse-mode
graph, both evaluated by the numpy oracle. Then the pass's own properties
(symbolic zeros, the tangent_graph contract) and the public jvp.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.backends.numpy import evaluate
from graphad.passes.forward_mode import forward_mode, tangent_graph
from graphad.passes.reverse_mode import reverse_mode
from graphad.prims import ALL_PRIMITIVES
from graphad.trace import trace_function

from op_cases import CASES, primitives_in, traced_graph

DIFF = [c for c in CASES if c.wrt and getattr(c, "jvp", True)]   # not custom_vjp cases


def _floats(graph):
    return [i for i, v in enumerate(graph.inputs) if v.type.is_float]


def _inner(xs, ys):
    return float(sum(np.sum(np.asarray(x, np.float64) * np.asarray(y, np.float64))
                     for x, y in zip(xs, ys)))


@pytest.mark.parametrize("case", DIFF, ids=lambda c: c.name)
def test_forward_pass_matches_reverse_pass_and_finite_differences(case):
    graph, args = traced_graph(case)
    wrt = [i for i in case.wrt if graph.inputs[i].type.is_float]
    fwd = forward_mode(graph, wrt).verify()
    rng = np.random.default_rng(1)
    v = [rng.standard_normal(args[i].shape).astype(args[i].dtype) for i in wrt]
    outs = evaluate(fwd, list(args) + v)
    n = len(graph.outputs)
    primal, tangent = outs[:n], outs[n:]
    for p, want in zip(primal, evaluate(graph, args)):      # the primal part is unchanged
        np.testing.assert_array_equal(p, want)

    rev = reverse_mode(graph, wrt, seed_inputs=True)
    u = [rng.standard_normal(o.type.shape).astype(o.type.dtype) if o.type.is_float
         else np.zeros(o.type.shape, o.type.dtype) for o in graph.outputs]
    cts = evaluate(rev, list(args) + u)[n:]
    float_out = [i for i, o in enumerate(graph.outputs) if o.type.is_float]
    lhs = _inner([u[i] for i in float_out], [tangent[i] for i in float_out])
    rhs = _inner(cts, v)
    exact = all(v.type.dtype == np.float64 for n in fwd.nodes for v in n.outputs if v.type.is_float)
    tol = 1e-9 if exact else 1e-5
    # With NaN/inf in the inputs (the `specials` cases) reverse mode may give NaN where the
    # tangent is finite; its tests own that. Forward mode is still checked against differences.
    if np.isfinite(rhs):
        assert abs(lhs - rhs) <= tol * max(1.0, abs(lhs), abs(rhs)), \
            f"<u, jvp v> {lhs} != <vjp u, v> {rhs}"

    if case.fd:
        eps = case.eps

        def at(s):
            moved = list(args)
            for i, d in zip(wrt, v):
                moved[i] = args[i] + s * eps * d
            return evaluate(graph, moved)
        for i in float_out:
            fd = (np.asarray(at(1)[i], np.float64) - at(-1)[i]) / (2 * eps)
            np.testing.assert_allclose(tangent[i], fd, rtol=10 * case.tol, atol=10 * case.tol)


def test_the_op_suite_drives_every_differentiable_primitive_through_forward_mode():
    exercised = set()
    for case in DIFF:
        exercised |= primitives_in(traced_graph(case)[0])
    wanted = {p.name for p in ALL_PRIMITIVES if p.differentiable and p.kind != "control"}
    assert wanted - exercised == set()


def test_every_differentiable_primitive_has_a_jvp_rule():
    missing = [p.name for p in ALL_PRIMITIVES if p.differentiable and p.jvp is None]
    assert missing == []


# ---- the pass's own properties -----------------------------------------------------

def test_zero_tangents_are_symbolic_no_product_with_zero():
    # Only W varies: the tangent of x @ W is x @ W_dot, with no x_dot @ W term.
    tf = trace_function(lambda x, w: gnp.tanh(x @ w), (np.ones((4, 3)), np.ones((3, 2))))
    fwd = forward_mode(tf.graph, [1])
    dots = [n for n in fwd.nodes if n.prim.name == "dot_general"]
    assert len(dots) == 2          # the primal product and x @ W_dot
    assert not any(n.prim.name == "broadcast_to" for n in fwd.nodes)


def test_forward_graph_text_for_sin_times_constant():
    tf = trace_function(lambda x: gnp.sin(x) * 3.0, (np.ones(2),))
    text = str(forward_mode(tf.graph, [0]))
    assert text == """{ lambda a:f64[2], b:f64[2] .
  c:f64[2] = sin a
  d:f64[2] = cos a
  e:f64[2] = mul b d
  f:f64[] = constant 3.0
  g:f64[2] = mul c f
  h:f64[2] = mul e f
  return g, h }"""


def test_outputs_independent_of_the_inputs_get_zero_tangents():
    tf = trace_function(lambda x, y: (x * 2.0, gnp.exp(y)), (np.ones(3), np.ones(2)))
    fwd = forward_mode(tf.graph, [0])
    x, y, t = np.arange(3.0), np.ones(2), np.ones(3)
    out = evaluate(fwd, [x, y, t])
    np.testing.assert_array_equal(out[2], 2 * t)
    np.testing.assert_array_equal(out[3], np.zeros(2))


def test_tangent_graph_contract():
    # (inputs..., a tangent per input...) -> (outputs..., a tangent per output...); cached.
    tf = trace_function(lambda x, i: (x * x, i + 1), (np.ones(3), np.ones(3, np.int64)))
    tg = tangent_graph(tf.graph)
    assert tangent_graph(tf.graph) is tg
    assert [v.type for v in tg.inputs] == [v.type for v in tf.graph.inputs] * 2
    assert [v.type for v in tg.outputs] == [v.type for v in tf.graph.outputs] * 2
    x = np.array([1.0, 2.0, 3.0])
    out = evaluate(tg, [x, np.arange(3), np.ones(3), np.ones(3, np.int64)])
    np.testing.assert_array_equal(out[2], 2 * x)
    np.testing.assert_array_equal(out[3], np.zeros(3, np.int64))


# ---- graphad.jvp ---------------------------------------------------------------------

def test_seed_example_exp_tanh_at_half():
    out, t = graphad.jvp(lambda x: gnp.exp(gnp.tanh(x)), (0.5,), (1.0,))
    th = np.tanh(0.5)
    assert out == pytest.approx(np.exp(th), rel=1e-15)
    assert t == pytest.approx(np.exp(th) * (1 - th ** 2), rel=1e-15)


def test_jvp_pytrees_and_several_arguments():
    def f(p, x):
        return {"y": gnp.tanh(x @ p["W"] + p["b"]), "n": gnp.sum(p["W"] ** 2)}
    rng = np.random.default_rng(0)
    p = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    x = rng.standard_normal((4, 3))
    tp = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    tx = rng.standard_normal((4, 3))
    out, tan = graphad.jvp(f, (p, x), (tp, tx))
    eps = 1e-6
    plus = f({k: p[k] + eps * tp[k] for k in p}, x + eps * tx)
    minus = f({k: p[k] - eps * tp[k] for k in p}, x - eps * tx)
    for k in ("y", "n"):
        np.testing.assert_allclose(tan[k], (plus[k] - minus[k]) / (2 * eps), rtol=1e-7, atol=1e-8)
        np.testing.assert_allclose(out[k], f(p, x)[k], rtol=1e-14)


def test_jvp_rejects_mismatched_tangents():
    with pytest.raises(graphad.GraphadError, match="structure"):
        graphad.jvp(lambda x, y: x * y, (1.0, 2.0), (1.0,))
    with pytest.raises(graphad.GraphadError, match="shape"):
        graphad.jvp(gnp.sin, (np.ones(3),), (np.ones(2),))


def test_jvp_keeps_float32():
    x = np.ones(3, np.float32)
    out, t = graphad.jvp(gnp.sin, (x,), (np.ones(3),))
    assert out.dtype == np.float32 and t.dtype == np.float32
    np.testing.assert_allclose(t, np.cos(x), rtol=1e-6)


def test_nested_jvp_gives_second_derivative():
    d2 = graphad.jvp(lambda x: graphad.jvp(gnp.sin, (x,), (1.0,))[1], (0.7,), (1.0,))[1]
    assert d2 == pytest.approx(-np.sin(0.7), rel=1e-14)


def test_jvp_of_grad_is_a_hessian_vector_product():
    def f(x):
        return gnp.sum(gnp.sin(x) * x[::-1])
    x = np.array([0.3, -1.2, 0.8, 2.0])
    v = np.array([1.0, 0.5, -0.25, 2.0])
    _, hv = graphad.jvp(graphad.grad(f), (x,), (v,))
    eps = 1e-6
    g = graphad.grad(f)
    np.testing.assert_allclose(hv, (g(x + eps * v) - g(x - eps * v)) / (2 * eps), rtol=1e-7, atol=1e-8)


def test_jvp_through_where_ignores_the_branch_not_taken():
    f = lambda x: gnp.where(x > 0, gnp.sqrt(x), 0.0 * x)  # noqa: E731
    _, t = graphad.jvp(f, (np.array([-1.0, 4.0]),), (np.ones(2),))
    np.testing.assert_array_equal(t, [0.0, 0.25])


def test_jvp_with_closure_over_an_outer_traced_value():
    # d/dy [ jvp_x (x * y) at x=1 along 1 ] = d/dy y = 1 -- no perturbation confusion.
    def outer(y):
        return graphad.jvp(lambda x: x * y, (1.0,), (1.0,))[1]
    assert graphad.grad(outer)(3.0) == pytest.approx(1.0)
    assert graphad.jvp(outer, (3.0,), (1.0,))[1] == pytest.approx(1.0)


def test_forward_mode_needs_a_jvp_rule():
    with pytest.raises(graphad.GraphadError, match="forward-mode"):
        @graphad.custom_vjp
        def f(x):
            return x * 2.0
        f.defvjp(lambda x: (f(x), None), lambda r, g: (2.0 * g,))
        graphad.jvp(f, (1.0,), (1.0,))


# ---- control flow: its jvp rules use tangent_graph ---------------------------------------

def test_jvp_and_forward_over_forward_through_fori_loop():
    f = lambda x: graphad.fori_loop(0, 3, lambda i, c: c * x, x)  # noqa: E731   x**4
    out, t = graphad.jvp(f, (1.5,), (1.0,))
    assert (out, t) == (pytest.approx(1.5 ** 4), pytest.approx(4 * 1.5 ** 3))
    assert graphad.jacfwd(graphad.jacfwd(f))(1.5) == pytest.approx(12 * 1.5 ** 2)
    xs = np.array([0.5, 2.0])      # batched tangents through the loop (unrolled batching)
    np.testing.assert_allclose(graphad.jacfwd(lambda x: f(x) * 2.0)(xs), np.diag(8 * xs ** 3))


def test_jvp_through_cond():
    f = lambda x: graphad.cond(x > 0, gnp.sin, lambda x: x * x, x)  # noqa: E731
    assert graphad.jvp(f, (0.5,), (1.0,))[1] == pytest.approx(np.cos(0.5))
    assert graphad.jvp(f, (-0.5,), (1.0,))[1] == pytest.approx(-1.0)

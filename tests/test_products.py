"""passes/products.py: factoring shared factors out of differences and reassociating
products into definition order, checked by structure, by the live values of the fused
loop it is for, and by value against the numpy evaluator on random layer chains."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphad.numpy as gnp
from graphad.backends.numba import fusible
from graphad.backends.numpy import evaluate
from graphad.ir import GraphBuilder, TensorType
from graphad.passes import optimize
from graphad.passes.fusion import fuse, fused_p
from graphad.passes.products import schedule_products
from graphad.passes.reverse_mode import reverse_mode
from graphad.prims import BY_NAME
from graphad.trace import trace_function
from random_graphs import adjoint_graphs, graphs

F64 = np.float64


def _inputs(*shapes, dtype=F64):
    b = GraphBuilder()
    return b, [b.add_input(TensorType(s, dtype)) for s in shapes]


def _op(b, name, *inputs):
    (v,) = b.add(BY_NAME[name], inputs)
    return v


def _logistic_grad(layers, n=1000):
    def f(x):
        v = gnp.sigmoid(x)
        for _ in range(layers):
            v = 4.0 * v * (1.0 - v)
        return gnp.sum(v)
    x = np.random.default_rng(4).standard_normal(n)
    graph = optimize(reverse_mode(trace_function(f, [x]).graph, (0,)))[0]
    return graph, x


def _max_live(graph) -> int:
    """Most values alive at once when the nodes run in order (inputs count until last read)."""
    last = {}
    for i, n in enumerate(graph.nodes):
        for v in n.inputs:
            last[v] = i
    for v in graph.outputs:
        last[v] = len(graph.nodes)
    live, most = {v for v in graph.inputs if v in last}, 0
    for i, n in enumerate(graph.nodes):
        live |= {v for v in n.outputs if v in last}
        most = max(most, len(live))
        live = {v for v in live if last[v] > i}
    return most


def test_a_shared_factor_comes_out_of_a_difference():
    b, (g, a, c, d) = _inputs((3,), (3,), (3,), (3,))
    y = _op(b, "sub", _op(b, "mul", _op(b, "mul", g, a), c), _op(b, "mul", g, d))
    out = schedule_products(b.build([y]))
    assert str(out) == """{ lambda a:f64[3], b:f64[3], c:f64[3], d:f64[3] .
  e:f64[3] = mul b c
  f:f64[3] = sub e d
  g:f64[3] = mul a f
  return g }"""


def test_a_product_read_elsewhere_is_not_factored():
    # factoring would compute g*a again for its other reader: more work, not less
    b, (g, a, d) = _inputs((3,), (3,), (3,))
    ga = _op(b, "mul", g, a)
    graph = b.build([_op(b, "sub", ga, _op(b, "mul", g, d)), ga])
    assert schedule_products(graph) is graph


@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_only_one_floating_dtype(dtype):
    b, (g, a, d) = _inputs((3,), (3,), (3,), dtype=dtype)
    graph = b.build([_op(b, "sub", _op(b, "mul", g, a), _op(b, "mul", g, d))])
    out = schedule_products(graph)
    assert (out is graph) == (dtype is np.int64)
    args = [np.array([1.5, -2.0, 3.0], dtype), np.array([2.0, 0.5, -1.0], dtype),
            np.array([0.25, 4.0, 2.0], dtype)]
    (want,), (got,) = evaluate(graph, args), evaluate(out, args)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_every_shared_factor_comes_out_at_once():
    # (g*g)*a - (g*g)*c -> (g*g)*(a - c) in one application: the pass is idempotent
    b, (g, a, c) = _inputs((3,), (3,), (3,))
    gg = _op(b, "mul", g, g)
    graph = b.build([_op(b, "sub", _op(b, "mul", gg, a), _op(b, "mul", _op(b, "mul", g, g), c))])
    out = schedule_products(graph)
    assert str(out) == """{ lambda a:f64[3], b:f64[3], c:f64[3] .
  d:f64[3] = sub b c
  e:f64[3] = mul a a
  f:f64[3] = mul e d
  return f }"""
    assert schedule_products(out) is out


def test_a_long_product_chain_does_not_recurse_without_bound():
    # factoring looks a few products deep; a 3000-factor chain once hit the recursion limit
    def f(x):
        p = x
        for k in range(3000):
            p = p * gnp.sin(x + k)
        return p - x
    x = np.linspace(0.1, 0.2, 4)
    graph = trace_function(f, [x]).graph
    out = schedule_products(graph)
    np.testing.assert_allclose(evaluate(out, [x])[0], evaluate(graph, [x])[0], rtol=1e-12)


def test_a_product_tree_multiplies_in_definition_order():
    b, (x,) = _inputs((4,))
    h = [_op(b, "sin", x)]
    for _ in range(3):
        h.append(_op(b, "sin", h[-1]))
    p = _op(b, "mul", _op(b, "mul", _op(b, "mul", h[3], h[2]), h[1]), h[0])   # backwards
    out = schedule_products(b.build([p]))
    assert str(out) == """{ lambda a:f64[4] .
  b:f64[4] = sin a
  c:f64[4] = sin b
  d:f64[4] = mul b c
  e:f64[4] = sin c
  f:f64[4] = mul d e
  g:f64[4] = sin e
  h:f64[4] = mul f g
  return h }"""
    assert schedule_products(out) is out                  # already in order: unchanged


def test_one_smaller_factor_goes_last_and_more_stay_as_written():
    # each factor smaller than the result costs a full-size product once mixed in
    b, (s, m) = _inputs((3,), (2, 3))
    m1, m2 = _op(b, "sin", m), _op(b, "cos", m)
    graph = b.build([_op(b, "mul", _op(b, "mul", m2, s), m1)])       # out of order
    out = schedule_products(graph)
    assert [(n.prim.name, [str(v.type) for v in n.inputs]) for n in out.nodes][-2:] == \
        [("mul", ["f64[2,3]", "f64[2,3]"]), ("mul", ["f64[2,3]", "f64[3]"])]
    assert out.outputs[0].type == TensorType((2, 3), F64)
    args = [np.arange(3.0), np.arange(6.0).reshape(2, 3)]
    np.testing.assert_allclose(evaluate(out, args)[0], evaluate(graph, args)[0], rtol=1e-15)
    b, (s, t, m) = _inputs((3,), (2, 1), (2, 3))
    m1, m2 = _op(b, "sin", m), _op(b, "cos", m)
    graph = b.build([_op(b, "mul", _op(b, "mul", _op(b, "mul", m2, s), m1), t)])
    assert schedule_products(graph) is graph


def test_the_logistic_map_adjoint_becomes_one_running_product():
    # W4: each layer's adjoint g*(1-v)*4 - g*(4v) kept both forward values of all
    # twenty layers alive until the backward sweep; now a product accumulates them
    graph, x = _logistic_grad(20)
    out = schedule_products(graph)
    assert out.count_nodes() < graph.count_nodes()
    (body,) = [n.attrs["body"] for n in fuse(graph, fusible).nodes if n.prim is fused_p]
    (new_body,) = [n.attrs["body"] for n in fuse(out, fusible).nodes if n.prim is fused_p]
    assert _max_live(body) >= 40
    assert _max_live(new_body) <= 8
    want, got = evaluate(graph, [x])[0], evaluate(out, [x])[0]
    # chaotic map: a rounding difference grows ~3.6x per layer, so compare at 10 layers
    graph, x = _logistic_grad(10)
    np.testing.assert_allclose(evaluate(schedule_products(graph), [x])[0],
                               evaluate(graph, [x])[0], rtol=1e-9)
    assert np.median(np.abs(got - want) / np.abs(want)) < 1e-6


def test_fastmath_false_keeps_products_as_written():
    from graphad.backends.numba import prepare
    graph, _ = _logistic_grad(3)
    muls = sum(n.prim.name == "mul" for n in graph.nodes)

    def fused_muls(g):
        return sum(n.prim.name == "mul" for f in g.nodes if f.prim is fused_p
                   for n in f.attrs["body"].nodes)
    assert fused_muls(prepare(graph, fastmath=False)) == muls
    assert fused_muls(prepare(graph)) < muls


LAYERS = {
    "logistic": lambda v: 4.0 * v * (1.0 - v),
    "sin-product": lambda v: gnp.sin(v) * v,
    "square-plus": lambda v: v * v * 0.5 + v,
    "exp-decay": lambda v: gnp.exp(-v * v) * v,
    "tanh": gnp.tanh,
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(sorted(LAYERS)), min_size=2, max_size=8),
       st.integers(0, 2**32 - 1))
def test_random_layer_chains_keep_their_gradient(names, seed):
    def f(x, w):
        v = gnp.tanh(x) * w
        for name in names:
            v = LAYERS[name](v)
        return gnp.sum(v * w)
    rng = np.random.default_rng(seed)
    args = [rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 50)]
    graph = optimize(reverse_mode(trace_function(f, args).graph, (0, 1)))[0]
    out = schedule_products(graph)
    out.verify()
    for want, got in zip(evaluate(graph, args), evaluate(out, args)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-13)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(st.one_of(graphs(max_steps=12), adjoint_graphs(), adjoint_graphs(dtype=np.float32)))
def test_random_graphs_keep_their_values_and_a_second_run_changes_nothing(case):
    graph, args = case
    for g in (graph, optimize(graph)[0]):
        out = schedule_products(g)
        out.verify()
        assert out.out_types == g.out_types
        assert schedule_products(out) is out
        for want, got in zip(evaluate(g, args), evaluate(out, args)):
            rtol = 1e-4 if np.asarray(want).dtype == np.float32 else 1e-9
            scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 1e-2 * scale)

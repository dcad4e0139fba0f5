"""graphad.custom_vjp: user-defined gradients, traced, compiled and composed."""
from __future__ import annotations

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.backends.numpy import evaluate
from graphad.passes.inline_custom import inline_custom_calls
from graphad.testing import check_grads
from graphad.trace import trace_function


@graphad.custom_vjp
def logsumexp(x):
    m = gnp.max(x)
    return m + gnp.log(gnp.sum(gnp.exp(x - m)))


def logsumexp_fwd(x):
    out = logsumexp(x)
    return out, (x, out)


def logsumexp_bwd(residuals, g):
    x, out = residuals
    return (g * gnp.exp(x - out),)


logsumexp.defvjp(logsumexp_fwd, logsumexp_bwd)

X = np.array([0.5, -1.0, 2.0, 0.0, 1.5])


def _prims(graph):
    return [n.prim.name for n in graph.nodes]


def test_plain_call_runs_the_function():
    assert logsumexp(X) == pytest.approx(np.log(np.sum(np.exp(X))), rel=1e-15)


def test_seed_example_gradient_equals_the_builtin_logsumexp():
    np.testing.assert_allclose(graphad.grad(logsumexp)(X), graphad.grad(gnp.logsumexp)(X),
                               rtol=1e-15, atol=1e-16)


def test_seed_example_passes_check_grads_to_second_order():
    check_grads(logsumexp, (X,), modes=("rev",), order=2)


def test_the_gradient_comes_from_bwd_not_from_differentiating_fun():
    @graphad.custom_vjp
    def clip_gradient(x):
        return x * 1.0
    clip_gradient.defvjp(lambda x: (x * 1.0, None), lambda _, g: (gnp.clip(g, -1.0, 1.0),))
    f = lambda x: gnp.sum(clip_gradient(x) * np.array([0.5, 3.0, -4.0]))  # noqa: E731
    np.testing.assert_array_equal(graphad.grad(f)(np.ones(3)), [0.5, 1.0, -1.0])


def test_the_node_carries_fwd_and_bwd_and_backends_never_see_it():
    stages = graphad.inspect(graphad.grad(lambda x: logsumexp(x) * 2.0), X)
    assert "custom_vjp_call" in _prims(stages.traced)
    assert "custom_vjp_call" not in _prims(stages.adjoint)      # inlined once reverse mode used it
    plain = graphad.inspect(graphad.compile(logsumexp, backend="numpy"), X)
    assert "custom_vjp_call" in _prims(plain.optimized)
    assert "custom_vjp_call" not in _prims(plain.fused)
    node = plain.optimized.nodes[[p for p in _prims(plain.optimized)].index("custom_vjp_call")]
    text = str(plain.optimized)
    assert "name='logsumexp'" in text and "bwd: { lambda" in text and "fwd: { lambda" in text
    assert len(node.outputs) == 3                                  # out, then residuals x, out


def test_inline_custom_calls_preserves_values():
    graph = trace_function(lambda x: logsumexp(x) * logsumexp(2.0 * x), (X,)).graph
    flat = inline_custom_calls(graph).verify()
    assert "custom_vjp_call" not in _prims(flat)
    np.testing.assert_allclose(evaluate(flat, [X]), evaluate(graph, [X]), rtol=1e-15)


def test_composes_with_jacrev_hessian_compile_and_nesting():
    ref = gnp.logsumexp
    np.testing.assert_allclose(graphad.jacrev(logsumexp)(X), graphad.grad(ref)(X), rtol=1e-15)
    np.testing.assert_allclose(graphad.hessian(logsumexp)(X), graphad.hessian(ref)(X),
                               rtol=1e-13, atol=1e-15)
    gg = lambda f: graphad.grad(lambda x: gnp.sum(graphad.grad(f)(x) ** 2))  # noqa: E731
    np.testing.assert_allclose(gg(logsumexp)(X), gg(ref)(X), rtol=1e-13, atol=1e-15)
    compiled = graphad.compile(logsumexp)
    assert compiled(X) == pytest.approx(ref(X), rel=1e-15)
    np.testing.assert_allclose(graphad.grad(compiled)(X), graphad.grad(ref)(X), rtol=1e-15)
    np.testing.assert_allclose(graphad.compile(graphad.grad(logsumexp))(X), graphad.grad(ref)(X),
                               rtol=1e-15)


def test_grad_of_compiled_function_still_uses_the_custom_rule():
    @graphad.custom_vjp
    def double_grad(x):
        return gnp.sin(x)
    double_grad.defvjp(lambda x: (gnp.sin(x), x), lambda x, g: (2.0 * g * gnp.cos(x),))
    compiled = graphad.compile(double_grad, backend="numpy")
    assert graphad.grad(compiled)(0.3) == pytest.approx(2 * np.cos(0.3))


def test_forward_mode_through_custom_vjp_is_a_clear_error():
    for attempt in (lambda: graphad.jvp(logsumexp, (X,), (X,)),
                    lambda: graphad.jacfwd(logsumexp)(X)):
        with pytest.raises(graphad.GraphadError, match="custom_vjp function 'logsumexp'.*no jvp"):
            attempt()


def test_several_arguments_pytrees_and_none_cotangents():
    @graphad.custom_vjp
    def scaled(p, x, n):
        return {"y": p["a"] * x, "z": gnp.sum(p["b"] * x)}

    def fwd(p, x, n):
        return scaled(p, x, n), (p, x)

    def bwd(res, g):
        p, x = res
        return ({"a": gnp.sum(g["y"] * x), "b": g["z"] * x}, g["y"] * p["a"] + g["z"] * p["b"], None)

    scaled.defvjp(fwd, bwd)
    p = {"a": np.float64(1.5), "b": np.array([1.0, -2.0])}
    x = np.array([0.3, 0.7])
    loss = lambda p, x: gnp.sum(scaled(p, x, 3)["y"] ** 2) + scaled(p, x, 3)["z"]  # noqa: E731
    ref = lambda p, x: gnp.sum((p["a"] * x) ** 2) + gnp.sum(p["b"] * x)  # noqa: E731
    got, want = graphad.grad(loss, (0, 1))(p, x), graphad.grad(ref, (0, 1))(p, x)
    np.testing.assert_allclose(got[0]["a"], want[0]["a"], rtol=1e-15)
    np.testing.assert_allclose(got[0]["b"], want[0]["b"], rtol=1e-15)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-15)


@pytest.mark.parametrize("fwd, bwd, message", [
    (lambda x: x * 2.0, lambda r, g: (g,), "fwd must return a pair"),
    (lambda x: (x * 2.0, None), lambda r, g: (g, g), "one cotangent per argument"),
    (lambda x: (x * 2.0, None), lambda r, g: (gnp.sum(g),), "shape"),
    (lambda x: (x * 2.0, None), lambda r, g: ((g, g),), "structure"),
])
def test_malformed_rules_are_reported(fwd, bwd, message):
    @graphad.custom_vjp
    def f(x):
        return x * 2.0
    f.defvjp(fwd, bwd)
    with pytest.raises(graphad.GraphadError, match=message):
        graphad.grad(lambda x: gnp.sum(f(x)))(np.ones(3))


def test_missing_rule_and_closures_over_traced_values_are_reported():
    @graphad.custom_vjp
    def f(x):
        return x * 2.0
    assert f(3.0) == 6.0
    with pytest.raises(graphad.GraphadError, match="defvjp"):
        graphad.grad(f)(3.0)

    def outer(y):
        @graphad.custom_vjp
        def g(x):
            return x * y
        g.defvjp(lambda x: (x * y, None), lambda r, ct: (ct * y,))
        return g(y * 2.0)
    with pytest.raises(graphad.GraphadError, match="closes over"):
        graphad.grad(outer)(3.0)


def test_eager_mode_uses_the_custom_rule():
    eager = pytest.importorskip("graphad.eager")
    np.testing.assert_allclose(eager.grad(logsumexp)(X), graphad.grad(gnp.logsumexp)(X), rtol=1e-15)

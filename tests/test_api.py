"""The transformations' contract: pytrees, argnums, static arguments, caching,
dtypes, nesting, and the NaN-safety of `where`."""
import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from conftest import central_difference

NP = {"backend": "numpy"}


def test_grad_of_dict_and_list_pytrees_has_the_argument_structure():
    def f(params, x):
        return gnp.sum(params["w"] * x) + params["layers"][0][1] ** 2 + gnp.sum(params["layers"][1])

    params = {"w": np.arange(3.0), "layers": [(None, 3.0), np.ones(2)]}
    g = graphad.grad(f)(params, np.array([1.0, 2.0, 3.0]))
    assert set(g) == {"w", "layers"}
    np.testing.assert_array_equal(g["w"], [1.0, 2.0, 3.0])
    assert g["layers"][0][0] is None and g["layers"][0][1] == 6.0
    np.testing.assert_array_equal(g["layers"][1], [1.0, 1.0])


def test_argnums_tuple_returns_a_tuple_in_that_order():
    f = lambda a, b, c: a * b ** 2 + c  # noqa: E731
    assert graphad.grad(f, argnums=(2, 0))(2.0, 3.0, 5.0) == (1.0, 9.0)
    assert graphad.grad(f, argnums=1)(2.0, 3.0, 5.0) == 12.0


def test_value_and_grad_returns_both():
    value, g = graphad.value_and_grad(lambda x: gnp.sum(x ** 3))(np.array([1.0, 2.0]))
    assert value == 9.0
    np.testing.assert_array_equal(g, [3.0, 12.0])


def test_compiled_outputs_may_be_pytrees():
    f = graphad.compile(lambda x: {"s": gnp.sum(x), "parts": (x * 2, None)}, **NP)
    out = f(np.arange(3.0))
    assert out["s"] == 3.0 and out["parts"][1] is None
    np.testing.assert_array_equal(out["parts"][0], [0.0, 2.0, 4.0])


def test_second_call_with_same_signature_does_not_retrace():
    calls = []

    def f(x, y):
        calls.append(1)
        return gnp.sum(x * y)

    cf = graphad.compile(f, **NP)
    cf(np.ones(3), np.ones(3))
    cf(np.zeros(3), np.full(3, 2.0))
    assert len(calls) == 1
    cf(np.ones(4), np.ones(4))                       # new shape: retrace
    cf(np.ones(4, np.float32), np.ones(4, np.float32))  # new dtype: retrace
    assert len(calls) == 3
    assert cf.cache_info()["signatures"] == 3


def test_static_argnums_retrace_per_static_value():
    calls = []

    def power(x, n):
        calls.append(n)
        out = x
        for _ in range(n - 1):          # Python control flow on a static value
            out = out * x
        return out

    f = graphad.compile(power, static_argnums=1, **NP)
    assert f(2.0, 3) == 8.0
    assert f(3.0, 3) == 27.0
    assert f(2.0, 5) == 32.0
    assert calls == [3, 5]
    assert graphad.grad(f)(2.0, 3) == 12.0


def test_float32_stays_float32():
    x = np.linspace(0.1, 1.0, 5, dtype=np.float32)
    f = graphad.compile(lambda x: gnp.tanh(x) * 2.0 + 1, **NP)
    assert f(x).dtype == np.float32
    g = graphad.grad(lambda x: gnp.sum(gnp.exp(x) / 3))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.exp(x) / 3, rtol=1e-6)


def test_grad_of_compiled_and_compile_of_grad_agree():
    def f(x):
        return gnp.sum(gnp.sin(x) * gnp.exp(x / 3))

    x = np.linspace(-1, 1, 7)
    a = graphad.grad(graphad.compile(f, **NP))(x)
    b = graphad.compile(graphad.grad(f), **NP)(x)
    np.testing.assert_allclose(a, b, rtol=1e-15)
    np.testing.assert_allclose(a, np.cos(x) * np.exp(x / 3) + np.sin(x) * np.exp(x / 3) / 3, rtol=1e-13)


def test_grad_of_a_compiled_function_keeps_its_backend():
    cf = graphad.compile(lambda x: x * x, **NP)
    assert graphad.grad(cf).backend == "numpy"


def test_nested_grad_matches_closed_forms():
    d2 = graphad.grad(graphad.grad(lambda x: x ** 4))
    assert d2(2.0) == pytest.approx(48.0)
    d3 = graphad.grad(graphad.grad(graphad.grad(gnp.sin)))
    assert d3(0.3) == pytest.approx(-np.cos(0.3), rel=1e-14)
    tanh2 = graphad.grad(graphad.grad(gnp.tanh))(0.5)
    t = np.tanh(0.5)
    assert tanh2 == pytest.approx(-2 * t * (1 - t * t), rel=1e-14)


def test_nested_grad_through_a_closure_over_a_traced_value():
    # d/dx [ d/dy (x * y**2) at y=2 ] = d/dx (4x) = 4
    outer = graphad.grad(lambda x: graphad.grad(lambda y: x * y ** 2)(2.0))
    assert outer(3.0) == 4.0
    # mixed partial of sin(x*y): cos(xy) - xy sin(xy)
    mixed = graphad.grad(lambda x: graphad.grad(lambda y: gnp.sin(x * y))(0.7))(1.3)
    assert mixed == pytest.approx(np.cos(0.91) - 0.91 * np.sin(0.91), rel=1e-14)


def test_vjp_with_pytree_output():
    def f(x, y):
        return {"a": x * y, "b": gnp.sum(x)}

    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    out, vjp_fn = graphad.vjp(f, x, y)
    np.testing.assert_array_equal(out["a"], [3.0, 8.0])
    x_bar, y_bar = vjp_fn({"a": np.array([1.0, 10.0]), "b": 2.0})
    np.testing.assert_array_equal(x_bar, [3.0 + 2.0, 40.0 + 2.0])
    np.testing.assert_array_equal(y_bar, [1.0, 20.0])
    with pytest.raises(graphad.GraphadError, match="structure"):
        vjp_fn(np.ones(2))


def test_stop_gradient_blocks_the_derivative():
    f = lambda x: x * graphad.stop_gradient(x * x)  # noqa: E731
    assert graphad.grad(f)(3.0) == 9.0


@pytest.mark.parametrize("x", [-1.0, 0.0])
def test_where_gradient_is_exactly_zero_from_the_untaken_branch(x):
    g = graphad.grad(lambda x: gnp.where(x > 0, gnp.sqrt(x), 0.0))(x)
    assert g == 0.0 and not np.isnan(g)


def test_where_does_not_leak_nan_from_several_operations_upstream():
    def f(x):
        bad = gnp.log(gnp.sqrt(x) * 3.0 + x) / (x + 1.0)   # nan/inf for x <= 0
        return gnp.sum(gnp.where(x > 0, bad * bad, x ** 2))

    x = np.array([-2.0, -1.0, 0.0, 0.5, 2.0])
    g = graphad.grad(f)(x)
    assert np.all(np.isfinite(g))
    np.testing.assert_array_equal(g[:3], 2 * x[:3])
    num = central_difference(lambda v: f(np.concatenate([x[:3], v])), x[3:])
    np.testing.assert_allclose(g[3:], num, rtol=1e-6)


def test_where_gradient_through_compile_and_value_and_grad():
    f = graphad.compile(graphad.value_and_grad(lambda x: gnp.sum(gnp.where(x > 0, gnp.log(x), -x))), **NP)
    value, g = f(np.array([-1.0, 0.0, np.e]))
    assert value == 2.0
    np.testing.assert_array_equal(g, [-1.0, -1.0, 1 / np.e])


def test_maximum_and_abs_subgradients_at_kinks():
    assert graphad.grad(lambda x: gnp.maximum(x, 0.0))(0.0) == 0.5
    assert graphad.grad(lambda x: gnp.maximum(x, x))(1.0) == 1.0
    assert graphad.grad(lambda x: gnp.minimum(x, 2.0))(2.0) == 0.5
    assert graphad.grad(gnp.abs)(0.0) == 0.0


def test_numpy_functions_on_tracers_record_into_the_graph():
    def f(x):
        return np.sum(np.sin(x) ** 2, axis=0) @ np.ones(3) + np.dot(x[0], x[1])

    x = np.arange(6.0).reshape(2, 3) / 5
    g = graphad.grad(f)(x)
    expected = 2 * np.sin(x) * np.cos(x) + np.stack([x[1], x[0]])
    np.testing.assert_allclose(g, expected, rtol=1e-14)
    stages = graphad.inspect(f, x)
    assert "sin" in str(stages.traced) and "dot_general" in str(stages.traced)


def test_closed_over_arrays_become_constants():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    g = graphad.grad(lambda x: gnp.sum(W @ x))(np.ones(2))
    np.testing.assert_array_equal(g, W.sum(axis=0))
    assert "constant" in str(graphad.inspect(lambda x: gnp.sum(W @ x), np.ones(2)).traced)


def test_inspect_traces_without_running_and_exposes_stages():
    stages = graphad.inspect(graphad.grad(lambda x: gnp.sum(gnp.tanh(x))), np.ones(3))
    assert stages.traced.count_nodes() < stages.adjoint.count_nodes()
    for name in ("traced", "adjoint", "optimized", "fused"):
        getattr(stages, name).verify()
    text = str(stages.stats())
    assert "traced" in text and "optimized" in text


def test_integer_outputs_and_inputs_pass_through_compile():
    f = graphad.compile(lambda i, x: (i * 2, x[1:].sum() + i), **NP)
    a, b = f(np.array([1, 2]), np.arange(3.0))
    assert a.dtype == np.int64 and b.dtype == np.float64
    np.testing.assert_array_equal(a, [2, 4])


def test_gradients_are_taken_of_the_stabilized_forward():
    g = graphad.grad(lambda x: gnp.log(gnp.sigmoid(x)))(-800.0)
    assert g == pytest.approx(1.0)                 # d/dx log(sigmoid x) = 1 - sigmoid(x)
    g = graphad.grad(lambda x: gnp.log(gnp.sum(gnp.exp(x))))(np.array([1000.0, 1000.0]))
    np.testing.assert_allclose(g, [0.5, 0.5])
    stages = graphad.inspect(graphad.grad(lambda x: gnp.log(gnp.sigmoid(x))), -800.0)
    assert any(r["pass"].startswith("stabilize (forward") for r in stages.records)
    off = graphad.compile(graphad.grad(lambda x: gnp.log(gnp.sigmoid(x))), backend="numpy", passes=())
    assert np.isnan(off(-800.0))                    # the unstabilized gradient: 0 * inf


def test_inlining_keeps_broadcast_constants_scalar():
    def inner(x):
        return gnp.sum(x * gnp.ones((1000, 1000)))

    outer = graphad.grad(lambda x: graphad.grad(inner)(x)[0, 0] * 2.0)
    stages = graphad.inspect(outer, np.ones((1000, 1000)))
    for graph in (stages.traced, stages.adjoint, stages.optimized):
        for node in graph.nodes:
            if node.prim.name == "constant":
                assert node.attrs["value"].value.size <= 1, node


def test_tracers_have_numpy_array_operators_and_methods():
    def f(x):
        parts = [x // 2.0, x % 2.0, divmod(x, 3.0)[1], x.cumsum(), x.cumprod(), x.take([2, 0]),
                 x.repeat(2), x.real, x.imag + x.conj(), x.reshape(2, 2).trace(),
                 x.reshape(2, 2).diagonal(), gnp.where((x > 1) ^ (x > 3), x, 0.0)]
        return sum(gnp.sum(p) for p in parts) + x.all() + x.any()

    x = np.array([1.5, 2.5, 3.5, 4.5])
    assert graphad.compile(f, backend="numpy")(x) == pytest.approx(f(x))
    g = graphad.grad(f)(x)
    np.testing.assert_allclose(g, central_difference(f, x), rtol=1e-6)


def test_fastmath_false_calls_libm_and_agrees_with_the_default():
    def f(x):
        return gnp.sum(gnp.tanh(x) * gnp.exp(-x))

    x = np.linspace(-3, 3, 101)
    fast, libm = graphad.compile(graphad.grad(f)), graphad.compile(graphad.grad(f), fastmath=False)
    assert libm.fastmath is False and graphad.grad(libm).fastmath is False
    src_fast = fast.inspect(x).executable("numba").source
    src_libm = libm.inspect(x).executable("numba", fastmath=False).source
    assert "tanh_f64" in src_fast and "math.tanh" not in src_fast
    assert "math.tanh" in src_libm and "tanh_f64" not in src_libm
    expected = (1 - np.tanh(x) ** 2) * np.exp(-x) - np.tanh(x) * np.exp(-x)
    np.testing.assert_allclose(libm(x), expected, rtol=1e-14)
    # atol: fastmath factors e*(1-t*t) - e*t into e*((1-t*t) - t) (passes/products.py),
    # which rounds differently where the difference cancels (x near 0.48)
    np.testing.assert_allclose(fast(x), expected, rtol=1e-14, atol=1e-15)

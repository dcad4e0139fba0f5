"""graphad.eager: gradients op by op with a tape, checked against the graph gradient,
central differences and closed forms; Python control flow; errors."""
import gc
import warnings

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad import eager
from graphad.tree import tree_leaves

from op_cases import CASES, make_args

DIFFERENTIABLE = [c for c in CASES if c.wrt]


def _weights(shape):
    """Fixed, distinct weights so every output element matters to the scalar."""
    size = int(np.prod(shape, dtype=np.int64))
    return np.linspace(0.5, 1.5, size).reshape(shape) if size else np.zeros(shape)


def scalarized(case):
    """The case's function reduced to a scalar: a weighted sum of its float outputs."""
    def f(*xs):
        total = 0.0
        for leaf in tree_leaves(case.fn(*xs)):
            if np.dtype(leaf.dtype).kind == "f":
                total = total + gnp.sum(leaf * _weights(leaf.shape))
        return total
    return f


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=lambda c: c.name)
def test_op_suite_eager_gradient_matches_graph_gradient_and_central_differences(case):
    args = make_args(case)
    f = scalarized(case)
    with np.errstate(over="ignore"):            # nan_to_num's huge finite values, weighted
        got = eager.grad(f, argnums=case.wrt)(*args)
        want = graphad.grad(f, argnums=case.wrt)(*args)
    for g, w, i in zip(got, want, case.wrt):
        assert np.shape(g) == np.shape(args[i])
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12, err_msg=case.name)
    if not case.fd:
        return
    # <grad, d> against <w, central difference of the outputs along a random direction d>.
    rng = np.random.default_rng(1)
    dirs = {i: rng.standard_normal(np.shape(args[i])) for i in case.wrt}

    def outputs(s):
        moved = [a + s * case.eps * dirs[i] if i in dirs else a for i, a in enumerate(args)]
        return [np.asarray(o, np.float64) for o in tree_leaves(case.ref(*moved))
                if np.asarray(o).dtype.kind == "f"]
    numeric = sum(float(np.sum(_weights(p.shape) * (p - m) / (2 * case.eps)))
                  for p, m in zip(outputs(1), outputs(-1)))
    analytic = sum(float(np.sum(g * dirs[i])) for g, i in zip(got, case.wrt))
    assert analytic == pytest.approx(numeric, rel=case.tol, abs=case.tol), case.name


# ---- the seeds' examples ----------------------------------------------------------

def doubling_until_large(a):
    """The seed's PyTorch example: data-dependent `while` and `if` on the value."""
    b = a * 2
    while gnp.sqrt(gnp.sum(b * b)) < 1000:
        b = b * 2
    if gnp.sum(b) > 0:
        c = b
    else:
        c = 100 * b
    return c


@pytest.mark.parametrize("a", [0.37, -0.37, 3.0, -1234.5])
def test_control_flow_example_gives_d_over_a(a):
    d = doubling_until_large(a)
    g = eager.grad(doubling_until_large)(a)
    assert isinstance(g, np.float64)
    assert g == pytest.approx(d / a, rel=1e-15)


def test_control_flow_on_a_vector_gives_d_over_a_elementwise():
    a = np.array([0.5, -0.25, 0.125])
    d = doubling_until_large(a)
    g = eager.grad(lambda a: gnp.sum(doubling_until_large(a)))(a)
    np.testing.assert_allclose(g, d / a, rtol=1e-15)


def test_graph_tracing_refuses_the_control_flow_example():
    with pytest.raises(graphad.TracerBoolConversionError, match="graphad.eager"):
        graphad.grad(doubling_until_large)(0.37)


def test_four_variable_chain_partials_are_all_minus_4096():
    def chain(w, x, y, z):
        a = (w + x + y + z) ** 2
        b = (w + x - y - z) ** 2
        u = (a + b) ** 2
        v = (a - b) ** 2
        return (u + v) ** 2
    assert eager.grad(chain, argnums=(0, 1, 2, 3))(-1.0, 0.0, -2.0, 1.0) == (-4096.0,) * 4


def test_tanh_written_by_hand():
    def tanh_by_hand(x):
        y = gnp.exp(-x)
        return (1.0 - y) / (1.0 + y)
    assert eager.grad(tanh_by_hand)(1.0) == pytest.approx((1 - np.tanh(0.5) ** 2) / 2, rel=1e-14)


def test_linear_regression_with_dict_params_trains_to_the_same_point_as_compiled():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 200)
    y = 4.0 * x + 10.0 + 0.01 * rng.standard_normal(200)

    def loss(params, x, y):
        return gnp.mean((params["w"] * x + params["b"] - y) ** 2)

    def train(grad_fn):
        params = {"w": 0.0, "b": 0.0}
        for _ in range(300):
            g = grad_fn(params, x, y)
            params = {k: params[k] - 0.3 * g[k] for k in params}
        return params

    eager_params = train(eager.grad(loss))
    compiled_params = train(graphad.compile(graphad.grad(loss)))
    assert eager_params["w"] == pytest.approx(4.0, abs=0.02)
    assert eager_params["b"] == pytest.approx(10.0, abs=0.02)
    for k in eager_params:
        assert eager_params[k] == pytest.approx(compiled_params[k], rel=1e-12)


def test_relu_mlp_gradient_matches_compiled_and_the_hand_gradient():
    from graphad.bench.workloads import BY_NAME
    w = BY_NAME["W2"]
    params, data = w.make()
    got = eager.grad(w.fun)(params, *data)
    compiled = graphad.compile(graphad.grad(w.fun))(params, *data)
    hand = w.numpy_grad(params, *data)
    assert sorted(got) == sorted(params)
    for k in params:
        assert got[k].shape == params[k].shape
        np.testing.assert_allclose(got[k], compiled[k], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got[k], hand[k], rtol=1e-10, atol=1e-13)


# ---- API behaviour ------------------------------------------------------------------

def test_value_and_grad_with_pytrees_and_tuple_argnums():
    def f(p, xs, scale):
        return scale * gnp.sum(p["a"] * xs[0]) + gnp.sum(p["b"] ** 2) * xs[1]

    p = {"a": np.array([1.0, 2.0]), "b": np.array([[0.5, -1.0]])}
    xs = [np.array([3.0, 4.0]), 2.0]
    value, (gp, gxs) = eager.value_and_grad(f, argnums=(0, 1))(p, xs, 1.5)
    assert value == pytest.approx(1.5 * 11.0 + 1.25 * 2.0)
    np.testing.assert_array_equal(gp["a"], 1.5 * xs[0])
    np.testing.assert_array_equal(gp["b"], 2 * p["b"] * 2.0)
    np.testing.assert_array_equal(gxs[0], 1.5 * p["a"])
    assert gxs[1] == pytest.approx(1.25) and isinstance(gxs[1], np.float64)


def test_float32_stays_float32():
    x = np.array([0.5, 1.5], np.float32)
    g = eager.grad(lambda x: gnp.sum(gnp.tanh(x) * 2.0))(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, 2 * (1 - np.tanh(x) ** 2), rtol=1e-6)


def test_gradient_arrays_are_owned_by_the_caller():
    g = eager.grad(lambda x: gnp.sum(x))(np.ones((2, 3)))
    g *= 2      # a cotangent of a broadcast is a read-only view unless copied
    np.testing.assert_array_equal(g, 2 * np.ones((2, 3)))


def test_function_not_depending_on_its_input_has_zero_gradient():
    g = eager.grad(lambda x: gnp.sum(gnp.stop_gradient(x) * 3.0))(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0])
    assert eager.grad(lambda x: 5.0)(np.array([1.0, 2.0])).tolist() == [0.0, 0.0]


def test_where_branch_not_taken_contributes_no_nan():
    f = lambda x: gnp.sum(gnp.where(x > 0, gnp.sqrt(x), 0.0))  # noqa: E731
    x = np.array([-1.0, 0.0, 4.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # sqrt(-1) in the forward pass
        g = eager.grad(f)(x)
    np.testing.assert_array_equal(g, [0.0, 0.0, 0.25])


def test_numpy_functions_on_boxes_are_recorded():
    f = lambda x: np.sum(np.sin(x) * np.exp(x), axis=0).sum()  # noqa: E731
    x = np.array([[0.1, 0.2], [0.3, 0.4]])
    np.testing.assert_allclose(eager.grad(f)(x), np.exp(x) * (np.cos(x) + np.sin(x)), rtol=1e-14)


def test_converting_a_box_to_a_numpy_array_is_refused():
    with pytest.raises(graphad.GraphadError, match="drop its derivative"):
        eager.grad(lambda x: np.asarray(x).sum())(np.ones(2))


def test_python_scalars_from_boxes_are_concrete():
    seen = []

    def f(x):
        seen.append((float(x[0]), bool(x[1] > 1), int(x[1])))
        return gnp.sum(x)
    eager.grad(f)(np.array([0.5, 2.0]))
    assert seen == [(0.5, True, 2)]


def test_vjp_of_a_vector_function_matches_the_jacobian():
    def f(x, y):
        return {"p": x * y, "s": gnp.sin(x)}

    x, y = np.array([0.1, 0.2, 0.3]), 2.0
    out, vjp_fn = eager.vjp(f, x, y)
    np.testing.assert_array_equal(out["p"], x * y)
    ct = {"p": np.array([1.0, -1.0, 0.5]), "s": np.array([2.0, 0.0, 1.0])}
    gx, gy = vjp_fn(ct)
    np.testing.assert_allclose(gx, ct["p"] * y + ct["s"] * np.cos(x), rtol=1e-15)
    assert gy == pytest.approx(np.sum(ct["p"] * x))
    gx2, _ = vjp_fn(ct)     # the tape can be pulled back more than once
    np.testing.assert_array_equal(gx, gx2)
    with pytest.raises(graphad.GraphadError, match="structure"):
        vjp_fn(ct["p"])


def test_nested_eager_grad_gives_the_second_derivative():
    f = lambda x: gnp.sin(x) * x  # noqa: E731
    d2 = eager.grad(eager.grad(f))(0.3)
    assert d2 == pytest.approx(2 * np.cos(0.3) - 0.3 * np.sin(0.3), rel=1e-14)


def test_graph_gradient_of_an_eager_gradient():
    f = lambda x: gnp.exp(x) * x  # noqa: E731
    d2 = graphad.grad(lambda x: eager.grad(f)(x))(0.7)
    assert d2 == pytest.approx(np.exp(0.7) * (2 + 0.7), rel=1e-14)


@pytest.mark.parametrize("bad, match", [
    (lambda: eager.grad(lambda x: x * 2.0)(np.ones(3)), "one float scalar"),
    (lambda: eager.grad(lambda x: x * 2)(3), "dtype int"),
    (lambda: eager.grad(lambda x, y: x * y, argnums=2)(1.0, 2.0), "argnums=2"),
])
def test_bad_input_raises_graphad_errors_in_the_users_terms(bad, match):
    with pytest.raises(graphad.GraphadError, match=match):
        bad()


def test_a_box_used_after_its_computation_finished_is_refused():
    stash = []

    def f(x):
        stash.append(x * 2.0)
        return gnp.sum(x)
    eager.grad(f)(np.ones(2))
    with pytest.raises(graphad.EscapedTracerError):
        eager.grad(lambda y: gnp.sum(y * stash[0]))(np.ones(2))


def test_the_tape_is_freed_without_the_cyclic_collector():
    g = eager.grad(lambda x: gnp.sum(gnp.tanh(x) * x))
    gc.collect()
    gc.disable()
    try:
        for _ in range(5):
            g(np.ones(100))
        assert gc.collect() == 0
    finally:
        gc.enable()


def test_eager_is_reachable_as_graphad_eager():
    import subprocess
    import sys
    code = "import graphad, numpy as np; print(graphad.eager.grad(lambda x: x * x)(3.0))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "6.0", out.stderr


def test_eager_grad_of_a_compiled_function_records_its_graph_on_the_tape():
    import graphad
    import graphad.numpy as gnp

    f = graphad.compile(lambda x: gnp.sum(gnp.sin(x) * x), backend="numpy")
    x = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(graphad.eager.grad(f)(x), np.cos(x) * x + np.sin(x), rtol=1e-14)
    np.testing.assert_allclose(graphad.eager.grad(lambda x: graphad.cond(
        gnp.sum(x) > 0, lambda x: gnp.sum(x ** 3), lambda x: gnp.sum(x), x))(x), 3 * x ** 2)

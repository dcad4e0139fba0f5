"""cond / while_loop / fori_loop: values, reverse-mode gradients, errors."""
import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from conftest import central_difference
from graphad.control import cond, fori_loop, while_loop


def seeds_example(a):
    """The seeds' `while b.norm() < 1000: b = b * 2; if b.sum() > 0: c = b else: c = 100 * b`."""
    b = a * 2
    b = while_loop(lambda b: gnp.sqrt(gnp.sum(b * b)) < 1000, lambda b: b * 2, b)
    c = cond(gnp.sum(b) > 0, lambda b: b, lambda b: 100 * b, b)
    return gnp.sum(c)


def seeds_example_python(a):
    b = a * 2
    while np.sqrt(np.sum(b * b)) < 1000:
        b = b * 2
    c = b if b.sum() > 0 else 100 * b
    return c.sum()


@pytest.mark.parametrize("a", [np.array([0.3, -0.2, 0.5]), np.array([-0.3, 0.1, -0.05])])
def test_seeds_control_flow_example_gradient_is_d_over_a(a):
    d = seeds_example_python(a)
    assert seeds_example(a) == pytest.approx(d)
    g = graphad.grad(seeds_example)(a)
    np.testing.assert_allclose(g, np.full(3, d / a.sum()), rtol=1e-14)
    compiled = graphad.compile(graphad.grad(seeds_example), backend="numpy")
    np.testing.assert_array_equal(compiled(a), g)


def test_cond_gradient_follows_the_taken_branch():
    f = lambda x: cond(x > 1.0, lambda x: gnp.sin(x) * x, lambda x: gnp.exp(2 * x), x)  # noqa: E731
    for x in (0.5, 2.0):
        assert graphad.grad(f)(x) == pytest.approx(central_difference(f, x), rel=1e-7)


def test_cond_with_pytree_operands_and_closure():
    w = 3.0

    def f(p, x):
        return cond(gnp.sum(x) > 0, lambda p: p["a"] * w * x, lambda p: p["b"] * x ** 2, p).sum()

    p = {"a": 2.0, "b": 5.0}
    g = graphad.grad(f)(p, np.array([1.0, 2.0]))
    assert g == {"a": 9.0, "b": 0.0}
    g = graphad.grad(f)(p, np.array([-1.0, -2.0]))
    assert g == {"a": 0.0, "b": 5.0}


def test_cond_gradient_with_respect_to_a_closed_over_traced_value():
    def f(x):
        return cond(x > 0, lambda: x ** 3, lambda: -x)

    assert graphad.grad(f)(2.0) == 12.0
    assert graphad.grad(f)(-2.0) == -1.0


def test_cond_branch_not_taken_leaks_no_nan():
    f = lambda x: cond(x > 0, lambda x: gnp.sqrt(x), lambda x: x * 0.0, x)  # noqa: E731
    assert graphad.grad(f)(-1.0) == 0.0


def test_while_loop_with_data_dependent_trip_count():
    # Multiply by x until the value exceeds 100: the trip count depends on x.
    def f(x):
        v, _ = while_loop(lambda s: s[0] < 100.0, lambda s: (s[0] * x, s[1] + 1), (x, 0))
        return v

    for x in (1.5, 3.0, 7.0):
        n = int(np.ceil(np.log(100) / np.log(x)))
        assert f(x) == pytest.approx(x ** n)
        assert graphad.grad(f)(x) == pytest.approx(n * x ** (n - 1), rel=1e-13)


def test_newton_sqrt_differentiated_with_respect_to_its_input():
    def newton_sqrt(a):
        return while_loop(lambda x: gnp.abs(x * x - a) > 1e-12 * a, lambda x: 0.5 * (x + a / x), a)

    for a in (2.0, 9.0, 0.25):
        assert newton_sqrt(a) == pytest.approx(np.sqrt(a), rel=1e-12)
        assert graphad.grad(newton_sqrt)(a) == pytest.approx(0.5 / np.sqrt(a), rel=1e-9)


def test_fori_loop_rnn_like_recurrence_matches_finite_differences(rng):
    W = rng.standard_normal((4, 4)) * 0.5

    def f(W):
        h = fori_loop(0, 6, lambda t, h: gnp.tanh(W @ h + 0.1 * t), np.ones(4))
        return gnp.sum(h ** 2)

    g = graphad.grad(f)(W)
    num = central_difference(lambda W: f(W), W)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9)


def test_nested_loops_and_a_loop_inside_a_cond():
    def inner(x):
        return fori_loop(0, 3, lambda i, v: v * x + 1.0, x)

    def f(x):
        outer = fori_loop(0, 2, lambda j, acc: acc + inner(x * acc), 0.5)
        return cond(outer > 1.0, lambda: gnp.log(outer) * inner(x), lambda: outer)

    for x in (0.3, 0.8):
        assert graphad.grad(f)(x) == pytest.approx(central_difference(f, x), rel=1e-6)


def test_loop_with_pytree_carry():
    def f(p):
        out = fori_loop(0, 4, lambda i, c: {"x": c["x"] * p["a"], "y": [c["y"][0] + c["x"]]},
                        {"x": 1.0, "y": [0.0]})
        return out["y"][0]

    p = {"a": 1.5}
    expected = central_difference(lambda a: f({"a": a}), 1.5)
    assert graphad.grad(f)(p)["a"] == pytest.approx(expected, rel=1e-8)


def test_control_flow_runs_eagerly_on_plain_values():
    assert cond(True, lambda x: x + 1, lambda x: x - 1, 1.0) == 2.0
    assert while_loop(lambda v: v < 10, lambda v: v * 3, 1) == 27
    assert fori_loop(0, 4, lambda i, acc: acc + i, 0) == 6


def test_cond_branches_must_agree_and_the_error_names_the_leaf():
    with pytest.raises(graphad.GraphadError, match=r"leaf \['b'\] is f64\[2\] in true_fn but f64\[3\]"):
        graphad.grad(lambda x: cond(x > 0, lambda: {"a": x, "b": gnp.ones(2) * x},
                                    lambda: {"a": x, "b": gnp.ones(3) * x})["a"])(1.0)
    with pytest.raises(graphad.GraphadError, match="structure"):
        cond(np.float64(1.0) > 0, lambda: (1.0, 2.0), lambda: 1.0)


def test_while_body_must_keep_the_carry_type():
    with pytest.raises(graphad.GraphadError, match=r"leaf \[1\] is i64\[\] in init but f64\[\] in body_fn"):
        graphad.grad(lambda x: while_loop(lambda s: s[0] < 5.0, lambda s: (s[0] * 2, s[1] + 0.5),
                                          (x, 0))[0])(1.0)


def test_python_if_error_points_to_cond():
    def f(x):
        if x > 0:
            return x
        return -x

    with pytest.raises(graphad.TracerBoolConversionError, match="graphad.cond"):
        graphad.grad(f)(1.0)


def test_forward_mode_through_while_and_fori_matches_finite_differences():
    def f(x):
        v, _ = while_loop(lambda s: s[0] < 100.0, lambda s: (s[0] * x, s[1] + 1), (x, 0))
        return v

    for x in (1.5, 3.0):
        assert graphad.jvp(f, (x,), (1.0,))[1] == pytest.approx(graphad.grad(f)(x), rel=1e-13)

    g = lambda w: fori_loop(0, 5, lambda i, h: gnp.tanh(h * w + 0.1 * i), 0.3)  # noqa: E731
    assert graphad.jvp(g, (0.7,), (1.0,))[1] == pytest.approx(central_difference(g, 0.7), rel=1e-7)
    np.testing.assert_allclose(graphad.jacfwd(g)(0.7), graphad.grad(g)(0.7), rtol=1e-13)

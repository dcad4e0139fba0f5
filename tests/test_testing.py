"""graphad.testing: numerical_grad and check_grads."""
from __future__ import annotations

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.testing import GradientCheckError, check_grads, numerical_grad


def test_numerical_grad_matches_the_closed_form_on_a_pytree():
    f = lambda p, x: gnp.sum(gnp.sin(p["w"] * x)) + p["b"] ** 2  # noqa: E731
    p = {"w": np.array([0.3, -1.0]), "b": np.float64(1.5)}
    x = np.array([2.0, 0.5])
    g = numerical_grad(f, (p, x))
    np.testing.assert_allclose(g["w"], x * np.cos(p["w"] * x), rtol=1e-8)
    assert g["b"] == pytest.approx(3.0, rel=1e-8)
    gx = numerical_grad(f, (p, x), argnums=(1,))
    assert isinstance(gx, tuple)
    np.testing.assert_allclose(gx[0], p["w"] * np.cos(p["w"] * x), rtol=1e-8)


def test_check_grads_passes_on_correct_derivatives():
    rng = np.random.default_rng(0)
    w = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    x = rng.standard_normal((4, 3))
    net = lambda w, x: gnp.tanh(x @ w["W"] + w["b"])  # noqa: E731   (non-scalar output)
    check_grads(net, (w, x), order=2)
    check_grads(lambda a, b: (gnp.sum(a * b), gnp.exp(a)), (np.ones(2), np.ones(2) * 0.5), order=1)
    check_grads(gnp.tanh, (0.3,), modes="fwd", order=3)


def test_check_grads_skips_integer_arguments():
    check_grads(lambda x, n: x ** 2 * n, (np.array([0.5, 1.0]), np.array([2, 3])), order=2)


def test_check_grads_names_argument_index_and_values_on_a_wrong_custom_vjp():
    @graphad.custom_vjp
    def f(x, y):
        return gnp.sin(x) * y

    def fwd(x, y):
        return f(x, y), (x, y)

    def wrong_bwd(res, g):
        x, y = res
        return g * gnp.cos(x) * y, g * gnp.sin(x) * 1.5   # d/dy should be sin(x)
    f.defvjp(fwd, wrong_bwd)
    x, y = np.array([0.1, 0.2, 0.3]), np.array([1.0, 2.0, 3.0])
    with pytest.raises(GradientCheckError) as info:
        check_grads(f, (x, y), modes=("rev",), order=1)
    message = str(info.value)
    assert "reverse-mode derivative" in message and "argument 1" in message
    assert "index (" in message and "central finite differences give" in message
    assert isinstance(info.value, AssertionError) and isinstance(info.value, graphad.GraphadError)


def test_check_grads_reports_both_values_exactly():
    @graphad.custom_vjp
    def double(x):
        return 2.0 * x
    double.defvjp(lambda x: (2.0 * x, None), lambda r, g: (3.0 * g,))
    with pytest.raises(GradientCheckError, match=r"argument 0, index \(\d,\) is 3\.0, .* give 2\.0"):
        check_grads(lambda x: gnp.sum(double(x)), (np.ones(2),), modes="rev", order=1)


def test_check_grads_catches_a_wrong_second_derivative():
    # Right first derivative, wrong second: bwd computes cos(x) through a path whose own
    # derivative is off (stop_gradient hides x's dependence).
    @graphad.custom_vjp
    def s(x):
        return gnp.sin(x)
    s.defvjp(lambda x: (gnp.sin(x), x), lambda x, g: (g * gnp.cos(gnp.stop_gradient(x)),))
    check_grads(s, (np.array([0.4, 1.1]),), modes="rev", order=1)
    with pytest.raises(GradientCheckError, match="the gradient of <u, s>"):
        check_grads(s, (np.array([0.4, 1.1]),), modes="rev", order=2)


def test_check_grads_forward_mode_through_custom_vjp_is_refused():
    @graphad.custom_vjp
    def f(x):
        return x * 2.0
    f.defvjp(lambda x: (x * 2.0, None), lambda r, g: (2.0 * g,))
    with pytest.raises(graphad.GraphadError, match="no jvp"):
        check_grads(f, (np.ones(2),))


def test_check_grads_argument_errors():
    with pytest.raises(graphad.GraphadError, match="unknown mode"):
        check_grads(gnp.sin, (0.5,), modes=("sideways",))
    with pytest.raises(graphad.GraphadError, match="no argument"):
        check_grads(lambda n: n * 2, (np.arange(3),))


def test_float32_uses_looser_tolerances():
    check_grads(gnp.tanh, (np.array([0.2, -0.7], np.float32),), order=2)

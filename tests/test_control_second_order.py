"""Second and third order through while_loop / fori_loop (issue #8): hessian, grad(grad),
jvp of grad and grad of jvp, against closed forms and central differences, on the numpy
oracle and (a couple of cases) compiled by Numba."""
import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from conftest import central_difference
from graphad.control import fori_loop, while_loop
from graphad.testing import check_grads


def power(x, c):
    """c * x**5 by repeated multiplication: x is closed over, c is the initial carry."""
    return fori_loop(0, 5, lambda i, y: y * x, c)


def newton_sqrt(a):
    """sqrt(a) by Newton's iteration until converged: a data-dependent trip count."""
    return while_loop(lambda x: gnp.abs(x * x - a) > 1e-12 * a, lambda x: 0.5 * (x + a / x), a)


def doubling(a):
    """The seeds' `while norm(b) < 1000: b = b * 2`, then a cubic so the Hessian is not 0."""
    b = while_loop(lambda b: gnp.sqrt(gnp.sum(b * b)) < 1000, lambda b: b * 2, a * 2)
    return gnp.sum(b * b * b)


def doublings(a):
    """How many times `doubling` doubles: its trip count at `a`."""
    b, k = a * 2, 0
    while np.sqrt(np.sum(b * b)) < 1000:
        b, k = b * 2, k + 1
    return k


def pytree_loop(x, w):
    """A dict carry with an int counter, and a closed-over const `w`."""
    def body(s):
        return {"v": s["v"] * w + gnp.sin(s["u"]), "u": s["u"] * 0.5 + w * s["v"], "k": s["k"] + 1}

    out = while_loop(lambda s: s["k"] < 4, body, {"v": x, "u": x * x, "k": 0})
    return gnp.sum(out["v"] * out["u"])


def _fd_jacobian(g, x, eps=1e-5):
    """Central differences of a vector function g at x: columns d g / d x_j."""
    cols = []
    for j in range(x.size):
        e = np.zeros_like(x)
        e.flat[j] = eps
        cols.append((np.asarray(g(x + e)) - np.asarray(g(x - e))) / (2 * eps))
    return np.stack(cols, axis=-1)


@pytest.mark.parametrize("x", [0.7, -1.3])
def test_power_second_derivatives_are_closed_forms(x):
    c = 1.7
    assert graphad.grad(graphad.grad(power))(x, c) == pytest.approx(20 * c * x ** 3, rel=1e-13)
    h = graphad.hessian(power, argnums=(0, 1))(x, c)
    np.testing.assert_allclose(np.array(h, dtype=float),
                               [[20 * c * x ** 3, 5 * x ** 4], [5 * x ** 4, 0.0]], rtol=1e-13)
    # the mixed partial by reverse over reverse: d/dc (d/dx c x^5)
    dxdc = graphad.grad(lambda c: graphad.grad(power)(x, c))(c)
    assert dxdc == pytest.approx(5 * x ** 4, rel=1e-13)


@pytest.mark.parametrize("a", [2.0, 9.0])
def test_newton_sqrt_second_derivative_is_minus_a_quarter_a_to_the_minus_three_halves(a):
    want = -0.25 * a ** -1.5
    assert graphad.grad(graphad.grad(newton_sqrt))(a) == pytest.approx(want, rel=1e-10)
    assert graphad.hessian(newton_sqrt)(a) == pytest.approx(want, rel=1e-10)
    fd = central_difference(graphad.grad(newton_sqrt), a, eps=1e-5)
    assert graphad.hessian(newton_sqrt)(a) == pytest.approx(float(fd), rel=1e-7)


def test_third_order_through_a_data_dependent_loop():
    a = 2.0
    third = graphad.grad(graphad.grad(graphad.grad(newton_sqrt)))(a)
    assert third == pytest.approx(3 / 8 * a ** -2.5, rel=1e-9)
    fd = central_difference(graphad.grad(graphad.grad(newton_sqrt)), a, eps=1e-5)
    assert third == pytest.approx(float(fd), rel=1e-7)


@pytest.mark.parametrize("a", [np.array([0.3, -0.2, 0.5]), np.array([-3.0, 1.0, -0.5])])
def test_hessian_with_a_data_dependent_trip_count(a):
    # b = a * 2**(k+1) with k constant near a: sum(b**3) has Hessian diag(6 a 8**(k+1)).
    k = doublings(a)
    want = np.diag(6 * a * 8.0 ** (k + 1))
    np.testing.assert_allclose(graphad.hessian(doubling)(a), want, rtol=1e-13)
    np.testing.assert_allclose(graphad.jacrev(graphad.grad(doubling))(a), want, rtol=1e-13)


def test_pytree_carry_int_counter_and_closed_over_const_match_finite_differences():
    x, w = np.array([0.3, 0.7]), 0.9
    (hxx, hxw), (hwx, hww) = graphad.hessian(pytree_loop, argnums=(0, 1))(x, w)
    g = graphad.grad(pytree_loop, argnums=(0, 1))
    np.testing.assert_allclose(hxx, _fd_jacobian(lambda x: g(x, w)[0], x), rtol=1e-7)
    np.testing.assert_allclose(hwx, _fd_jacobian(lambda x: g(x, w)[1], x), rtol=1e-7)
    eps = 1e-5
    np.testing.assert_allclose(hxw, (g(x, w + eps)[0] - g(x, w - eps)[0]) / (2 * eps), rtol=1e-7)
    assert hww == pytest.approx((g(x, w + eps)[1] - g(x, w - eps)[1]) / (2 * eps), rel=1e-7)
    np.testing.assert_allclose(hxw, hwx, rtol=1e-12)     # symmetric


def test_jvp_of_grad_and_grad_of_jvp_are_hessian_vector_products():
    x, w, v = np.array([0.3, 0.7]), 0.9, np.array([1.0, -2.0])
    hv = graphad.hessian(pytree_loop)(x, w) @ v
    _, jvp_of_grad = graphad.jvp(lambda x: graphad.grad(pytree_loop)(x, w), (x,), (v,))
    np.testing.assert_allclose(jvp_of_grad, hv, rtol=1e-12)
    grad_of_jvp = graphad.grad(lambda x: graphad.jvp(lambda y: pytree_loop(y, w), (x,), (v,))[1])(x)
    np.testing.assert_allclose(grad_of_jvp, hv, rtol=1e-12)


def test_check_grads_to_second_order_through_a_fori_loop_over_arrays(rng):
    # A recurrence whose const is an int index array: it has no cotangent.
    perm = np.array([2, 0, 1])

    def rnn(h0, W):
        return fori_loop(0, 3, lambda i, h: gnp.tanh(W @ gnp.take(h, perm, axis=0) + 0.1 * i), h0)

    check_grads(rnn, (rng.normal(size=3), 0.5 * rng.normal(size=(3, 3))), order=2)


def test_grad_of_grad_is_one_loop_after_optimization():
    # The forward pass of the inner gradient is dead: one paired while_vjp remains.
    stages = graphad.inspect(graphad.grad(graphad.grad(newton_sqrt)), 2.0)
    loops = [n.prim.name for n in stages.optimized.nodes if n.prim.name in ("while", "while_vjp")]
    assert loops == ["while_vjp"]
    (node,) = [n for n in stages.optimized.nodes if n.prim.name == "while_vjp"]
    assert node.attrs["n_carry"] == 2            # the carry and its tangent


# ---- compiled by Numba (compiles are slow: two kernels) ------------------------------

def test_compiled_hessian_of_newton_sqrt():
    h = graphad.compile(graphad.hessian(newton_sqrt))
    for a in (2.0, 9.0):
        assert h(a) == pytest.approx(-0.25 * a ** -1.5, rel=1e-10)
        assert h(a) == graphad.hessian(newton_sqrt)(a)


def test_compiled_grad_of_grad_with_data_dependent_trip_count():
    # Doubling until the norm passes 1000 takes tens of trips (beyond the tape's first rows).
    gg = graphad.compile(graphad.grad(lambda a: gnp.sum(graphad.grad(doubling)(a) * a)))
    for a in (np.array([3e-3, -2e-3, 5e-3]), np.array([1e-8, 2e-8, -1e-8])):
        k = doublings(a)
        assert k > 16
        # grad(doubling) = 3 a**2 8**(k+1), so <grad, a> = 3 sum(a**3) 8**(k+1): gradient 9 a**2 8**(k+1)
        np.testing.assert_allclose(gg(a), 9 * a ** 2 * 8.0 ** (k + 1), rtol=1e-13)


def test_generated_source_runs_each_loop_once_even_when_fusion_recomputes_its_operand():
    # `a * 2` is fused into each consumer: the while and the while_vjp get equal values in
    # different vars, and are still paired (one taped forward loop, not two).
    from graphad.backends.numba import codegen

    def loops(f):
        source = codegen.generate(graphad.inspect(f, np.ones(3)).fused).source
        return source.count("while True:"), source.count("for wv")

    assert loops(graphad.grad(doubling)) == (1, 1)
    # second order: primal + first order share one loop, the paired loop's while and
    # while_vjp another; the second while_vjp of the primal loop runs its own.
    assert loops(graphad.grad(lambda a: gnp.sum(graphad.grad(doubling)(a) * a))) == (3, 3)

# ---- eager mode: loop bodies closing over a value being differentiated ----------------

def test_eager_grad_through_loops_and_cond_that_close_over_a_box():
    def f(a):
        root = newton_sqrt(a)                              # `a` closed over by both bodies
        cubed = fori_loop(0, 3, lambda i, y: y * root, 1.0)
        return graphad.cond(cubed > 1.0, lambda: gnp.log(cubed) * a, lambda: cubed)

    for a in (2.0, 0.5):
        assert graphad.eager.grad(f)(a) == pytest.approx(graphad.grad(f)(a), rel=1e-13)
    # second order, eager over eager: d2/da2 sqrt(a) = -a**-1.5 / 4
    assert graphad.eager.grad(graphad.eager.grad(newton_sqrt))(2.0) == pytest.approx(
        -0.25 * 2.0 ** -1.5, rel=1e-10)

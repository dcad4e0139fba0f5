"""Control flow compiled by the Numba backend: while_vjp lowered natively (a tape array
that grows by doubling), results equal to the numpy oracle, no stopgap logged."""
import logging

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.backends.numba import codegen, lowering_of
from graphad.control import cond, fori_loop, while_loop
from graphad.prims.control import PRIMITIVES
from test_control_flow import seeds_example, seeds_example_python


def _both(f, *args):
    """Compiled (default numba) and numpy-oracle results of `f`, asserting no stopgap."""
    return graphad.compile(f)(*args), graphad.compile(f, backend="numpy")(*args)


@pytest.fixture(autouse=True)
def no_stopgap(caplog):
    with caplog.at_level(logging.WARNING, logger="graphad"):
        yield
    assert not [r for r in caplog.records if "numba backend" in r.getMessage()]


def test_every_control_primitive_has_a_native_lowering():
    assert [lowering_of(p) for p in PRIMITIVES] == ["control"] * 3


@pytest.mark.parametrize("a", [np.array([0.3, -0.2, 0.5]), np.array([-0.3, 0.1, -0.05])])
def test_seeds_example_gradient_compiled(a):
    got, oracle = _both(graphad.grad(seeds_example), a)
    np.testing.assert_array_equal(got, oracle)
    np.testing.assert_allclose(got, np.full(3, seeds_example_python(a) / a.sum()), rtol=1e-14)
    assert np.array_equal(got, graphad.eager.grad(seeds_example_python)(a))


def test_while_vjp_source_is_a_native_loop_with_a_doubling_tape():
    src = graphad.compile(graphad.grad(seeds_example)).inspect(np.ones(3)).executable("numba").source
    assert "while_vjp" in src                       # the equation, as a comment
    assert "_cap *= 2" in src and "for wv" in src   # growth by doubling, then the backward loop


def test_data_dependent_trip_count_beyond_the_initial_tape_capacity():
    # Growing by ~1% a trip from x to 100 takes hundreds of trips: the tape doubles often.
    def loop(x, r):
        return while_loop(lambda s: s[0] < 100.0,
                          lambda s: (s[0] * r + 0.001 * gnp.sin(s[0]), s[1] + 1), (x, 0))

    def f(x, r):
        v, k = loop(x, r)
        return v * k

    for x in (0.5, 2.0):
        got, oracle = _both(graphad.grad(f, argnums=(0, 1)), x, 1.01)
        assert graphad.compile(loop)(x, 1.01)[1] > 16 * codegen.TAPE_CAPACITY
        np.testing.assert_allclose(got, oracle, rtol=1e-12)


def test_newton_sqrt_compiled():
    def newton_sqrt(a):
        return while_loop(lambda x: gnp.abs(x * x - a) > 1e-12 * a, lambda x: 0.5 * (x + a / x), a)

    for a in (2.0, 9.0, 0.25):
        got, oracle = _both(graphad.grad(newton_sqrt), a)
        assert got == pytest.approx(oracle, rel=1e-14)
        assert got == pytest.approx(0.5 / np.sqrt(a), rel=1e-9)


def test_fori_loop_rnn_indexing_the_input_by_the_loop_counter(rng):
    W = rng.standard_normal((5, 5)) * 0.5
    xs = rng.standard_normal((40, 5))

    def f(W, xs):
        h = fori_loop(0, 40, lambda t, h: gnp.tanh(W @ h + xs[t]), np.zeros(5))
        return gnp.sum(h ** 2)

    got, oracle = _both(graphad.grad(f, argnums=(0, 1)), W, xs)
    for g, o in zip(got, oracle):
        np.testing.assert_allclose(g, o, rtol=1e-12, atol=1e-15)
    # Only W's gradient wanted: the cotangent of xs is not accumulated in the loop.
    got_w, oracle_w = _both(graphad.grad(f), W, xs)
    np.testing.assert_allclose(got_w, oracle[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(oracle_w, oracle[0], rtol=1e-12, atol=1e-15)
    src = graphad.compile(graphad.grad(f)).inspect(W, xs).executable("numba").source
    assert "np.zeros((5, 5), np.float64)" in src and "np.zeros((40, 5)" not in src
    # The primal loop (its result seeds the cotangent) and while_vjp's forward run once.
    assert src.count("while True:") == 1
    h = np.zeros(5)
    for t in range(40):
        h = np.tanh(W @ h + xs[t])
    assert graphad.compile(f)(W, xs) == pytest.approx(np.sum(h ** 2), rel=1e-13)


def test_loop_inside_a_cond_and_nested_loops_compiled():
    def inner(x):
        return fori_loop(0, 3, lambda i, v: v * x + 1.0, x)

    def f(x):
        outer = fori_loop(0, 2, lambda j, acc: acc + inner(x * acc), 0.5)
        return cond(outer > 1.0, lambda: gnp.log(outer) * inner(x), lambda: outer)

    for x in (0.3, 0.8):
        got, oracle = _both(graphad.grad(f), x)
        assert got == pytest.approx(oracle, rel=1e-13)


def test_pytree_carry_with_array_leaves_compiled():
    def f(p):
        out = fori_loop(0, 4, lambda i, c: {"x": c["x"] * p["a"], "y": [c["y"][0] + c["x"]]},
                        {"x": np.ones(3), "y": [np.zeros(3)]})
        return gnp.sum(out["y"][0] * np.arange(3.0))

    p = {"a": np.array([1.5, 0.5, -2.0])}
    got, oracle = _both(graphad.grad(f), p)
    np.testing.assert_allclose(got["a"], oracle["a"], rtol=1e-14)
    a = p["a"]
    np.testing.assert_allclose(got["a"], np.arange(3.0) * (1 + 2 * a + 3 * a ** 2), rtol=1e-14)


def test_zero_trip_loop_passes_the_cotangent_through():
    f = lambda x: gnp.sum(while_loop(lambda v: gnp.sum(v) > 1e9, lambda v: v * 2.0, x) * 3.0)  # noqa: E731
    got, oracle = _both(graphad.grad(f), np.ones(2))
    np.testing.assert_array_equal(got, np.full(2, 3.0))
    np.testing.assert_array_equal(got, oracle)


def test_jacfwd_and_jacrev_through_fori_loop_batch_per_element():
    def f(w):
        return fori_loop(0, 5, lambda i, h: gnp.tanh(h * w + 0.1 * i), gnp.ones(3) * 0.3)

    w = np.array([0.7, -0.4, 1.1])
    # Elementwise recurrence: the Jacobian is diagonal; central differences per entry.
    eps, fd = 1e-6, np.zeros((3, 3))
    for j in range(3):
        e = np.eye(3)[j] * eps
        fd[:, j] = (f(w + e) - f(w - e)) / (2 * eps)
    np.testing.assert_allclose(graphad.jacfwd(f)(w), fd, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(graphad.jacrev(f)(w), fd, rtol=1e-7, atol=1e-10)


def test_rendering_draws_each_sub_graph_as_a_cluster_named_by_its_role():
    from graphad.viz.dot import graph_to_dot
    stages = graphad.inspect(graphad.grad(seeds_example), np.array([0.3, -0.2, 0.5]))
    source = graph_to_dot(stages.optimized).source
    for role in ("while: cond_graph", "while: body_graph", "cond: true_branch",
                 "cond: false_branch", "while_vjp: body_adjoint"):
        assert role in source
    assert "see text IR" not in source
    assert "carry 0" in source and "ct 0" in source


def test_const_cotangent_that_is_the_incoming_carry_cotangent():
    # body c * 0.5 + z: z's cotangent per trip is the carry's cotangent itself, which the
    # backward loop then overwrites; the sum must read it first.
    def f(z):
        return gnp.sum(while_loop(lambda c: c[1] < 4, lambda c: (c[0] * 0.5 + z, c[1] + 1), (z, 0))[0])

    got, oracle = _both(graphad.grad(f), np.linspace(-1, 2, 5))
    np.testing.assert_allclose(got, oracle, rtol=1e-14)
    np.testing.assert_allclose(got, np.full(5, 0.5 ** 4 + 1 + 0.5 + 0.25 + 0.125), rtol=1e-14)

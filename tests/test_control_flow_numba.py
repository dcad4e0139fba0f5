"""Control flow compiled by the Numba backend: while_vjp lowered natively (a tape array
that grows by doubling), results equal to the numpy oracle, no stopgap logged."""
import logging
import re

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
    assert "zeros_array((5, 5), np.float64)" in src and "zeros_array((40, 5)" not in src
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


# ---- small products as loops, loop-body buffers (issues #8/#9) -------------------------

def _source(f, *args):
    return graphad.compile(f).inspect(*args).executable("numba").source


def _swaps(src):
    """The alternating buffer pairs a kernel swaps at the end of a trip."""
    return re.findall(r"(\w+)_a, \1_b = \1_b, \1_a", src)


def test_small_products_of_every_shape_class_match_numpy(rng):
    # one kernel: matrix-vector both ways (W.T @ v reads W by rows), outer, matrix
    # product with transposes, vectors that need an axis permutation, a scalar result,
    # a 3-d operand whose product is reshaped, and one product big enough for BLAS
    W, A, B = rng.standard_normal((5, 5)), rng.standard_normal((4, 3)), rng.standard_normal((3, 4))
    u, v, T = rng.standard_normal(5), rng.standard_normal(4), rng.standard_normal((2, 3, 4))
    X, Y = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))
    big = rng.standard_normal((64, 64))

    def products(W, A, B, u, v, T, X, Y, big):
        return (W @ u, W.T @ u, u @ W, u @ W.T, gnp.outer(u, v), A @ B, A.T @ B.T, B.T @ A.T,
                gnp.tensordot(X, Y, axes=([0, 1], [1, 0])), u @ u, T @ v,
                gnp.tensordot(T, X, axes=([0, 1], [0, 1])), big @ big[0])

    args = (W, A, B, u, v, T, X, Y, big)
    want = (W @ u, W.T @ u, u @ W, u @ W.T, np.outer(u, v), A @ B, A.T @ B.T, B.T @ A.T,
            np.tensordot(X, Y, axes=([0, 1], [1, 0])), u @ u, T @ v,
            np.tensordot(T, X, axes=([0, 1], [0, 1])), big @ big[0])
    for got, w in zip(graphad.compile(products)(*args), want):
        assert np.shape(got) == np.shape(w)
        np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-13)
    src = _source(products, *args)
    for helper in ("small_mv(", "small_vm(", "small_outer(", "small_mm(", "dot2("):
        assert helper in src


def test_carries_that_are_products_of_the_previous_carry_alternate_two_buffers(rng):
    # h <- A h (a vector) and M <- M B (a matrix) are computed afresh each trip into one
    # of two buffers while the other holds the carry being read; the gradient's carried
    # cotangents do the same.
    A, B = rng.standard_normal((4, 4)) * 0.4, rng.standard_normal((3, 3)) * 0.5
    h0, M0 = rng.standard_normal(4), rng.standard_normal((2, 3))

    def f(A, B):
        h, M = fori_loop(0, 7, lambda i, s: (gnp.tanh(A @ s[0]), s[1] @ B), (h0, M0))
        return gnp.sum(h * h) + gnp.sum(M * gnp.arange(6.0).reshape(2, 3))

    h, M = h0, M0
    for _ in range(7):
        h, M = np.tanh(A @ h), M @ B
    want = np.sum(h * h) + np.sum(M * np.arange(6.0).reshape(2, 3))
    assert graphad.compile(f)(A, B) == pytest.approx(want, rel=1e-13)
    got, oracle = _both(graphad.grad(f, argnums=(0, 1)), A, B)
    for g, o in zip(got, oracle):
        np.testing.assert_allclose(g, o, rtol=1e-12, atol=1e-14)
    src = _source(graphad.grad(f, argnums=(0, 1)), A, B)
    assert src.count("while True:") == 1
    # both carries of the forward loop and both carried cotangents alternate
    assert len(_swaps(src)) == 4 and "small_mm(" in src


def test_values_computed_in_one_trip_and_read_in_the_next(rng):
    # (p, c) <- (tanh(c), A c + p): trip k+1 reads both values trip k computed, each
    # from its own pair of buffers. With a pass-through, (a, b, s) <- (b, 0.9 tanh(b),
    # s + A a), `a` holds b's value of two trips back: had b two buffers, this trip would
    # overwrite it before A a reads it. No buffers alternate there.
    A = rng.standard_normal((3, 3)) * 0.5
    p0, c0 = rng.standard_normal(3), rng.standard_normal(3)

    def fresh(A):
        p, c = fori_loop(0, 9, lambda i, s: (gnp.tanh(s[1]), A @ s[1] + s[0]), (p0, c0))
        return gnp.sum(p * c)

    def passing(A):
        a, b, s = fori_loop(0, 9, lambda i, c: (c[1], gnp.tanh(c[1]) * 0.9, c[2] + A @ c[0]),
                            (p0, c0, gnp.zeros(3)))
        return gnp.sum(a * b) + gnp.sum(s)

    p, c = p0, c0
    a, b, s = p0, c0, np.zeros(3)
    for _ in range(9):
        p, c = np.tanh(c), A @ c + p
        a, b, s = b, np.tanh(b) * 0.9, s + A @ a
    assert graphad.compile(fresh)(A) == pytest.approx(np.sum(p * c), rel=1e-13)
    assert graphad.compile(passing)(A) == pytest.approx(np.sum(a * b) + np.sum(s), rel=1e-13)
    assert len(_swaps(_source(fresh, A))) == 2 and not _swaps(_source(passing, A))
    for f in (fresh, passing):
        got, oracle = _both(graphad.grad(f), A)
        np.testing.assert_allclose(got, oracle, rtol=1e-12, atol=1e-14)


def test_const_cotangents_summed_in_place_reshaped_or_transposed(rng):
    # W.T @ h: W's cotangent per trip is an outer product added straight into its sum;
    # T @ h with T of shape (2, 3, 4): the outer product fills the sum viewed as (6, 4).
    # A 3-d carry and a fused (not product) cotangent are summed by `+=`.
    W, T = rng.standard_normal((4, 4)) * 0.5, rng.standard_normal((2, 3, 4)) * 0.5
    C = rng.standard_normal((2, 2, 2))

    def f(W, T, C):
        def body(i, s):
            h, X = s
            h = gnp.tanh(W.T @ h + gnp.sum(T @ h, axis=0)[:1].sum() * 0.1)
            return h, gnp.sin(X) * C
        h, X = fori_loop(0, 6, body, (gnp.ones(4) * 0.3, gnp.ones((2, 2, 2)) * 0.2))
        return gnp.sum(h ** 2) + gnp.sum(X)

    got, oracle = _both(graphad.grad(f, argnums=(0, 1, 2)), W, T, C)
    for g, o in zip(got, oracle):
        np.testing.assert_allclose(g, o, rtol=1e-12, atol=1e-14)
    src = _source(graphad.grad(f, argnums=(0, 1, 2)), W, T, C)
    assert ".reshape((6, 4)), True)" in src           # T's sum viewed as the product's shape
    assert len(re.findall(r"_acc\d \+= ", src)) == 1


def test_gather_at_one_index_is_a_view_in_the_kernel_but_returned_as_a_copy(rng):
    xs = rng.standard_normal((6, 4))
    f = graphad.compile(lambda xs, i: (xs[i], gnp.sum(xs[i] * 2.0)))
    row, total = f(xs, 3)
    np.testing.assert_array_equal(row, xs[3])
    assert total == pytest.approx(2 * xs[3].sum(), rel=1e-14)
    assert not np.shares_memory(row, xs)
    src = _source(lambda xs, i: (xs[i], gnp.sum(xs[i] * 2.0)), xs, 3)
    assert "gather3" not in src and ".copy()" in src

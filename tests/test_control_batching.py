"""Batching rules for cond, while and while_vjp (issues #7/#8): a Jacobian or Hessian
through a loop is one loop over batched carries, not one loop per basis vector.

Checked against closed forms, per-row jvp / vjp calls, and the unrolled fallback
(forced by emptying CONTROL_RULES); batched predicates are reached through
batch_graph directly, since no public transform batches a trip count."""
import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.backends.numpy import evaluate
from graphad.control import cond, fori_loop, while_loop
from graphad.passes import batching
from graphad.passes.batching import batch_graph
from graphad.passes.reverse_mode import reverse_mode
from graphad.trace import trace_function


def power6(x):
    """x**6 elementwise: y <- y * x five times from y = x (a fori_loop closing over x)."""
    return fori_loop(0, 5, lambda i, y: y * x, x)


def newton_sqrt(a):
    """sqrt(a) by Newton's iteration until every element converged: the trip count
    depends on the primal values only."""
    return while_loop(lambda x: gnp.max(gnp.abs(x * x - a)) > 1e-13, lambda x: 0.5 * (x + a / x), a)


def branchy(x):
    """sin(x) * x[0] where sum(x) > 0, else x**3."""
    return cond(gnp.sum(x) > 0, lambda x: gnp.sin(x) * x[0], lambda x: x ** 3, x)


def gate(x):
    """x * x where sum(x) > 0, else zeros: one branch's tangent is batched, the other's not."""
    return cond(gnp.sum(x) > 0, lambda x: x * x, lambda x: gnp.zeros(x.shape), x)


def alternating(x):
    """A cond inside a loop body: multiply by x on even trips, take sin on odd ones."""
    step = lambda i, y: cond(i % 2 == 0, lambda y: y * x, lambda y: gnp.sin(y), y)  # noqa: E731
    return fori_loop(0, 3, step, x)


def halving(x):
    """A cond on a float carry inside a loop: in a jacrev the carry gets a copy per lane,
    so the cond's predicate is batched and becomes a select inside the loop body."""
    step = lambda i, y: cond(gnp.sum(y) > 1.0, lambda y: y * 0.5, lambda y: y * x, y)  # noqa: E731
    return fori_loop(0, 4, step, x)


def _central_jacobian(f, eps=1e-6):
    def jac(x):
        steps = eps * np.eye(len(x))
        return np.stack([(f(x + e) - f(x - e)) / (2 * eps) for e in steps], axis=1)
    return jac


def _branchy_jacobian(x):
    if x.sum() > 0:
        return np.diag(np.cos(x) * x[0]) + np.outer(np.sin(x), np.eye(len(x))[0])
    return np.diag(3 * x ** 2)


def _alternating_jacobian(x):
    # y1 = x**2, y2 = sin(x**2), y3 = x sin(x**2): elementwise, so the Jacobian is diagonal
    return np.diag(np.sin(x ** 2) + 2 * x ** 2 * np.cos(x ** 2))


POS, MIXED = np.array([0.3, 0.7, 1.1, 0.5]), np.array([0.4, -1.2, 0.25, -0.6])
CASES = [
    ("power6", power6, POS, lambda x: np.diag(6 * x ** 5)),
    ("newton_sqrt", newton_sqrt, np.array([2.0, 9.0, 0.5]), lambda a: np.diag(0.5 / np.sqrt(a))),
    ("branchy/true", branchy, POS, _branchy_jacobian),
    ("branchy/false", branchy, MIXED, _branchy_jacobian),
    ("gate/true", gate, POS, lambda x: np.diag(2 * x)),
    ("gate/false", gate, MIXED, lambda x: np.zeros((len(x), len(x)))),
    ("alternating", alternating, MIXED, _alternating_jacobian),
    ("halving", halving, POS, _central_jacobian(halving)),
]


def _control_nodes(graph):
    return [n.prim.name for n in graph.nodes if n.prim.kind == "control"]


@pytest.mark.parametrize("name, f, x, jac", CASES, ids=[c[0] for c in CASES])
def test_jacobians_match_closed_forms_and_per_row_jvp_and_vjp(name, f, x, jac):
    fwd, rev = graphad.jacfwd(f)(x), graphad.jacrev(f)(x)
    rtol = 1e-7 if name == "halving" else 1e-12          # central differences, or exact
    np.testing.assert_allclose(fwd, jac(x), rtol=rtol, atol=1e-15)
    np.testing.assert_allclose(rev, jac(x), rtol=rtol, atol=1e-15)
    eye = np.eye(len(x))
    columns = np.stack([graphad.jvp(f, (x,), (e,))[1] for e in eye], axis=1)
    _, pullback = graphad.vjp(f, x)
    rows = np.stack([pullback(e)[0] for e in eye])
    np.testing.assert_allclose(fwd, columns, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(rev, rows, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name, f, x, jac", CASES, ids=[c[0] for c in CASES])
def test_batched_rules_equal_the_unrolled_fallback(name, f, x, jac, monkeypatch):
    loss = lambda x: gnp.sum(f(x) ** 2)  # noqa: E731
    transforms = (graphad.jacfwd(f), graphad.jacrev(f), graphad.hessian(loss))
    batched = [t(x) for t in transforms]
    monkeypatch.setattr(batching, "CONTROL_RULES", {})    # the fallback: one node per lane
    unrolled = [t(x) for t in (graphad.jacfwd(f), graphad.jacrev(f), graphad.hessian(loss))]
    for b, u in zip(batched, unrolled):
        np.testing.assert_allclose(b, u, rtol=1e-13, atol=1e-14)


def test_third_order_through_a_loop_with_a_pytree_carry_equals_the_fallback(monkeypatch):
    # jacrev over jacfwd: a while_vjp whose primal carry is itself batched (the tangents).
    def f(x):
        body = lambda s: {"v": s["v"] * 0.9 + gnp.sin(s["u"]), "u": s["u"] * 0.5 + s["v"],  # noqa: E731
                          "k": s["k"] + 1}
        out = while_loop(lambda s: s["k"] < 4, body, {"v": x, "u": x * x, "k": 0})
        return gnp.sum(out["v"] * out["u"])

    third = lambda: graphad.jacrev(graphad.jacfwd(graphad.grad(f)))  # noqa: E731
    x = np.array([0.3, -0.2, 0.5])
    batched = third()(x)
    monkeypatch.setattr(batching, "CONTROL_RULES", {})
    np.testing.assert_allclose(batched, third()(x), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(batched, batched.transpose(1, 0, 2), rtol=1e-12)   # symmetric


def test_hessians_through_loops_are_closed_forms():
    x = POS
    np.testing.assert_allclose(graphad.hessian(lambda x: gnp.sum(power6(x)))(x),
                               np.diag(30 * x ** 4), rtol=1e-12)
    a = np.array([2.0, 9.0, 0.5])
    np.testing.assert_allclose(graphad.hessian(lambda a: gnp.sum(newton_sqrt(a)))(a),
                               np.diag(-0.25 * a ** -1.5), rtol=1e-10)
    # sum(branchy) on the true branch is x0 sum(sin x)
    h = graphad.hessian(lambda x: gnp.sum(branchy(x)))(x)
    want = np.diag(-x[0] * np.sin(x))
    want[0, :] += np.cos(x)
    want[:, 0] += np.cos(x)
    np.testing.assert_allclose(h, want, rtol=1e-12, atol=1e-15)


def test_one_loop_however_many_basis_vectors(monkeypatch):
    def loops(transform, f, n):
        return _control_nodes(graphad.inspect(transform(f), np.linspace(0.1, 0.5, n)).optimized)

    loss = lambda x: gnp.sum(power6(x) ** 2)  # noqa: E731
    assert loops(graphad.jacfwd, power6, 5) == ["while"]
    # hessian: the primal loop, its tangent loop, and the while_vjp of the tangent loop
    assert loops(graphad.hessian, loss, 3) == loops(graphad.hessian, loss, 6) == \
        ["while", "while", "while_vjp"]
    assert loops(graphad.jacfwd, branchy, 5) == ["cond"]
    monkeypatch.setattr(batching, "CONTROL_RULES", {})
    assert loops(graphad.jacfwd, power6, 5) == ["while"] * 5


# ---- batched predicates: lanes stop at different trips ---------------------------

def grow(x):
    """Multiply by 1.5 until x >= 5, counting trips. Past 5 the body's value is nan
    (sqrt of a negative): finished lanes compute it, and must discard it."""
    return while_loop(lambda c: c[0] < 5.0,
                      lambda c: (c[0] * 1.5 + 0.0 * gnp.sqrt(5.0 - c[0]), c[1] + 1), (x, 0))


LANES = np.array([0.5, 1.0, 3.0, 20.0])
TRIPS = np.array([6, 4, 2, 0])          # 1.5**k * x >= 5 first at k = TRIPS


@pytest.mark.filterwarnings("ignore:invalid value")
def test_while_with_a_batched_predicate_runs_until_every_lane_is_done():
    graph = trace_function(grow, (1.0,)).graph
    big, flags = batch_graph(graph, [0], len(LANES))
    big.verify()
    assert flags == (True, True)
    assert _control_nodes(big) == ["while"]
    cond_graph = big.nodes[-1].attrs["cond_graph"]
    assert [n.prim.name for n in cond_graph.nodes][-1] == "reduce_max"     # any lane live
    x, k = evaluate(big, [LANES])
    np.testing.assert_array_equal(k, TRIPS)
    np.testing.assert_array_equal(x, LANES * 1.5 ** TRIPS)


@pytest.mark.filterwarnings("ignore:invalid value", "ignore:divide by zero")
def test_while_vjp_with_a_batched_predicate_keeps_nan_out_of_finished_lanes():
    graph = trace_function(grow, (1.0,)).graph
    rev = reverse_mode(graph, [0], seed_inputs=True)     # (x, seeds...) -> (outs..., x_bar)
    assert _control_nodes(rev) == ["while", "while_vjp"]
    big, _ = batch_graph(rev, [0, 1], len(LANES))
    big.verify()
    assert _control_nodes(big) == ["while", "while_vjp"]
    seeds = np.array([1.0, 2.0, -1.0, 0.5])
    *_, x_bar = evaluate(big, [LANES, seeds, np.array(0)])
    np.testing.assert_array_equal(x_bar, seeds * 1.5 ** TRIPS)    # d(x 1.5**k)/dx = 1.5**k
    for lane in range(len(LANES)):
        assert evaluate(rev, [LANES[lane], seeds[lane], np.array(0)])[-1] == x_bar[lane]


@pytest.mark.filterwarnings("ignore:invalid value")
def test_cond_with_a_batched_predicate_selects_per_lane_and_differentiates():
    def f(x):
        return cond(x > 0, lambda x: gnp.sqrt(x) * 2.0, lambda x: -x * x, x)

    graph = trace_function(f, (1.0,)).graph
    xs = np.array([4.0, -3.0, 0.25, -0.5])
    big, flags = batch_graph(graph, [0], len(xs))
    assert flags == (True,) and _control_nodes(big) == []      # both branches, one select
    assert [n.prim.name for n in big.nodes][-1] == "select"
    want = np.where(xs > 0, 2 * np.sqrt(np.abs(xs)), -xs * xs)
    np.testing.assert_array_equal(evaluate(big, [xs])[0], want)
    # reverse mode: cond's vjp is a cond of the adjoint branches, batched the same way
    rev = reverse_mode(graph, [0], seed_inputs=True)
    big_rev, _ = batch_graph(rev, [0, 1], len(xs))
    x_bar = evaluate(big_rev, [xs, np.ones(len(xs))])[-1]
    np.testing.assert_array_equal(x_bar, np.where(xs > 0, 1 / np.sqrt(np.abs(xs)), -2 * xs))


def test_a_loop_carry_becomes_batched_through_the_body():
    # Only `b` is batched, but `a`'s next value reads it: `a` must be batched from the start.
    def f(a0, b):
        return fori_loop(0, 3, lambda i, c: (c[0] + c[1], c[1] * 2.0), (a0, b))

    graph = trace_function(f, (1.0, 1.0)).graph
    big, flags = batch_graph(graph, [1], 3)
    assert flags == (True, True)
    # `a` enters materialized; the trip counter and the predicate stay unbatched.
    assert str(big) == """\
{ lambda a:f64[], b:f64[3] .
  c:f64[1] = reshape a  shape=(1,)
  d:f64[3] = broadcast_to c  shape=(3,)
  e:i64[] = constant 0
  f:i64[] g:f64[3] h:f64[3] = while e d b  n_carry=3
    body_graph: { lambda i:i64[], j:f64[3], k:f64[3] .
      l:i64[] = constant 1
      m:i64[] = add i l
      n:f64[3] = add j k
      o:f64[] = constant 2.0
      p:f64[3] = mul k o
      return m, n, p }
    cond_graph: { lambda q:i64[], r:f64[3], s:f64[3] .
      t:i64[] = constant 3
      u:bool[] = lt q t
      return u }
  return g, h }"""
    bs = np.array([1.0, -2.0, 0.5])
    a, b = evaluate(big, [np.array(1.0), bs])
    np.testing.assert_array_equal(a, 1.0 + 7 * bs)          # b + 2b + 4b
    np.testing.assert_array_equal(b, 8 * bs)


def test_compiled_hessian_through_a_loop_and_a_batched_predicate_loop():
    x = POS
    h = graphad.compile(graphad.hessian(lambda x: gnp.sum(power6(x) * x)))(x)
    np.testing.assert_allclose(h, np.diag(42 * x ** 5), rtol=1e-12)
    # The any-lane loop and its while_vjp, compiled as one kernel.
    from graphad.backends.numba import compile_graph, prepare
    graph = trace_function(grow, (1.0,)).graph
    big, _ = batch_graph(reverse_mode(graph, [0], seed_inputs=True), [0, 1], len(LANES))
    with np.errstate(invalid="ignore"):
        x_out, k, x_bar = compile_graph(prepare(big), strict=True)([LANES, np.ones(4), np.array(0)])
    np.testing.assert_array_equal(k, TRIPS)
    np.testing.assert_array_equal(x_bar, 1.5 ** TRIPS)


def test_jacrev_and_hessian_through_a_cond_on_a_loop_carry_drop_the_untaken_nan():
    # The false branch's derivative is NaN (sqrt of a negative); it is never taken.
    def f(x):
        def step(i, y):
            return graphad.cond(gnp.sum(y) > 0, lambda y: y * x,
                                lambda y: gnp.sum(gnp.sqrt(-y)) * y, y)
        return graphad.fori_loop(0, 2, step, x)

    x = np.array([0.5, 2.0])
    np.testing.assert_allclose(graphad.jacrev(f)(x), np.diag(3 * x ** 2), rtol=1e-14)
    np.testing.assert_allclose(graphad.jacfwd(f)(x), np.diag(3 * x ** 2), rtol=1e-14)
    np.testing.assert_allclose(graphad.hessian(lambda x: gnp.sum(f(x) ** 2))(x),
                               np.diag(30 * x ** 4), rtol=1e-13)

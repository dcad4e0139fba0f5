"""Loop-invariant code motion (graphad/passes/hoist.py): exact graphs after the pass,
values against the numpy oracle, gradients against central differences, nothing
moved out of `cond` branches, nested loops, and a compiled reverse-mode loop that
still runs once."""
import warnings
from collections import Counter

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.backends.numpy import evaluate
from graphad.control import cond, fori_loop, while_loop
from graphad.passes import DEFAULT_PASSES, optimize, without
from graphad.passes.hoist import hoist
from graphad.passes.pipeline import total_hits
from graphad.passes.reverse_mode import reverse_mode
from graphad.prims.control import while_p
from graphad.testing import numerical_grad
from graphad.trace import trace_function


def _graph(fn, *args):
    return trace_function(fn, args).graph


def _hoisted(graph):
    hits = Counter()
    return hoist(graph, hits).verify(), hits


def _assert_same_values(a, b, args):
    for x, y in zip(evaluate(a, list(args)), evaluate(b, list(args))):
        np.testing.assert_array_equal(x, y)


def _names(graph):
    return [n.prim.name for n in graph.nodes]


def _loop(graph, name="while"):
    (node,) = [n for n in graph.nodes if n.prim.name == name]
    return node


# Closed-over values are already traced outside a loop body; a loop whose consts
# reach the body as graph inputs is built by hand.
def _hand_built_loop():
    h0, W0 = np.zeros(2), np.eye(2)
    body = _graph(lambda h, W: h + gnp.tanh(W.T @ h + 1.0), h0, W0)
    test = _graph(lambda h, W: gnp.sum(h) < gnp.sum(W), h0, W0)
    return _graph(lambda h, W: while_p.bind(h, W, cond_graph=test, body_graph=body, n_carry=1)[0],
                  h0, W0)


def test_consts_only_work_leaves_cond_and_body():
    graph = _hand_built_loop()
    out, hits = _hoisted(graph)
    assert str(out) == """{ lambda a:f64[2], b:f64[2,2] .
  c:f64[] = reduce_sum b  axes=(0, 1)
  d:f64[2,2] = transpose b  perm=(1, 0)
  e:f64[2] = while a c d  n_carry=1
    body_graph: { lambda f:f64[2], g:f64[], h:f64[2,2] .
      i:f64[2] = dot_general h f  batch=((), ()) contract=((1,), (0,))
      j:f64[] = constant 1.0
      k:f64[2] = add i j
      l:f64[2] = tanh k
      m:f64[2] = add f l
      return m }
    cond_graph: { lambda n:f64[2], o:f64[], p:f64[2,2] .
      q:f64[] = reduce_sum n  axes=(0,)
      r:bool[] = lt q o
      return r }
  return e }"""
    # W itself is read by neither graph any more: dropped from the operands.
    assert hits == {"hoist": 2, "unused-const": 1}
    args = [np.zeros(2), np.array([[1.0, 2.0], [0.5, 1.0]])]
    _assert_same_values(graph, out, args)
    assert np.all(evaluate(out, args)[0] > 2.0)          # the loop ran several trips


def rnn(W, xs, c):
    """W and c ride in the carry unchanged: loop-invariant, so they become consts."""
    def step(t, s):
        W, c, h = s
        return W, c, gnp.exp(c) * gnp.tanh(W.T @ h + xs[t])
    return fori_loop(0, 3, step, (W, c, gnp.zeros(2)))[2]


def rnn_loss(W, xs, c):
    return gnp.sum(rnn(W, xs, c) ** 2)


RNN_ARGS = (np.array([[0.3, -0.8], [0.5, 0.2]]), np.array([[0.1, 0.4], [-0.3, 0.2], [0.6, -0.5]]),
            0.2)


def test_fori_loop_rnn_hoists_the_transpose_and_the_exp():
    graph = _graph(rnn, *RNN_ARGS)
    assert "transpose" in _names(_loop(graph).attrs["body_graph"])
    out, hits = _hoisted(graph)
    assert str(out) == """{ lambda a:f64[2,2], b:f64[3,2], c:f64[] .
  d:i64[] = constant 0
  e:f64[2] = constant [0.0, 0.0]
  f:f64[] = exp c
  g:f64[2,2] = transpose a  perm=(1, 0)
  h:i64[] i:f64[2] = while d e b g f  n_carry=2
    body_graph: { lambda j:i64[], k:f64[2], l:f64[3,2], m:f64[2,2], n:f64[] .
      o:i64[] = constant 1
      p:i64[] = add j o
      q:f64[2] = dot_general m k  batch=((), ()) contract=((1,), (0,))
      r:i64[] = constant 0
      s:bool[] = lt j r
      t:i64[] = constant 3
      u:i64[] = add j t
      v:i64[] = select s u j
      w:f64[2] = gather l v  axis=0
      x:f64[2] = add q w
      y:f64[2] = tanh x
      z:f64[2] = mul n y
      return p, z }
    cond_graph: { lambda ba:i64[], bb:f64[2], bc:f64[3,2], bd:f64[2,2], be:f64[] .
      bf:i64[] = constant 3
      bg:bool[] = lt ba bf
      return bg }
  return i }"""
    assert hits == {"hoist": 2, "invariant-carry": 2, "unused-const": 2}
    _assert_same_values(graph, out, [np.asarray(a) for a in RNN_ARGS])
    assert hoist(out) is out


def test_gradient_through_a_hoisted_loop_matches_central_differences():
    grad = graphad.grad(rnn_loss, (0, 2))
    stages = grad.inspect(*RNN_ARGS)
    before_ad = [r for r in stages.records if r["pass"] == "hoist (forward, before AD)"]
    forward_hits = total_hits(before_ad)
    assert forward_hits["hoist"] == 2 and forward_hits["invariant-carry"] == 2
    gW, gc = grad(*RNN_ARGS)
    unoptimized = graphad.compile(rnn_loss, backend="numpy", passes=())
    nW, nc = numerical_grad(unoptimized, RNN_ARGS, (0, 2))
    np.testing.assert_allclose(gW, nW, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(gc, nc, rtol=1e-8)
    unhoisted = graphad.compile(grad, backend="numpy", passes=without("hoist"))
    for a, b in zip(unhoisted(*RNN_ARGS), (gW, gc)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


def test_compiled_gradient_of_the_rnn_still_runs_the_loop_once():
    grad = graphad.compile(graphad.grad(rnn_loss, (0, 2)))
    optimized = grad.inspect(*RNN_ARGS).optimized
    loop, rerun = _loop(optimized), _loop(optimized, "while_vjp")
    assert str(loop.attrs["body_graph"]) == str(rerun.attrs["body_graph"])
    assert not {"transpose", "exp"} & set(_names(loop.attrs["body_graph"]))
    source = grad.inspect(*RNN_ARGS).executable("numba").source
    assert source.count("while True:") == 1             # the while_vjp reuses the taped loop
    oracle = graphad.compile(graphad.grad(rnn_loss, (0, 2)), backend="numpy")(*RNN_ARGS)
    for a, b in zip(grad(*RNN_ARGS), oracle):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_a_loop_with_a_while_vjp_twin_is_left_alone():
    # Reverse mode on the unhoisted forward: the while and its rerun share a body that
    # still has invariant work; hoisting only the while would break their pairing.
    adjoint = reverse_mode(_graph(rnn_loss, *RNN_ARGS), (0,))
    assert "transpose" in _names(_loop(adjoint).attrs["body_graph"])
    assert hoist(adjoint) is adjoint
    optimized, _ = optimize(adjoint)
    loop, rerun = _loop(optimized), _loop(optimized, "while_vjp")
    assert str(loop.attrs["body_graph"]) == str(rerun.attrs["body_graph"])
    assert loop.inputs == rerun.inputs[:len(loop.inputs)]


def test_nothing_leaves_a_cond_branch():
    # The log is guarded by w > 0 and would warn (nan) for w = -1 if it ran anyway.
    def f(w, h):
        def step(i, s):
            w, h = s
            return w, h + cond(w > 0, lambda w: gnp.log(w), lambda w: w * 0.0, w)
        return fori_loop(0, 3, step, (w, h))[1]
    graph = _graph(f, 2.0, 1.0)
    out, hits = _hoisted(graph)
    body = _loop(out).attrs["body_graph"]
    assert _names(out).count("gt") == 1                  # the predicate moved out...
    guarded = _loop(body, "cond")                        # ...the cond stayed in the body
    assert "log" in _names(guarded.attrs["true_branch"]) and "log" not in _names(out)
    assert hits == {"hoist": 1, "invariant-carry": 1}       # w is still the cond operand
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for w in (-1.0, 2.0):
            _assert_same_values(graph, out, [np.float64(w), np.float64(1.0)])


def test_a_loop_inside_a_cond_branch_hoists_into_that_branch_only():
    def f(p, x):
        def loop(x):
            return fori_loop(0, 3, lambda i, s: (s[0], s[1] * gnp.exp(s[0])), (x, x))[1]
        return cond(p > 0, loop, lambda x: x, x)
    graph = _graph(f, 1.0, 0.5)
    out, hits = _hoisted(graph)
    branch = _loop(out, "cond").attrs["true_branch"]
    assert _names(branch).index("exp") < _names(branch).index("while")
    assert "exp" not in _names(_loop(branch).attrs["body_graph"]) and "exp" not in _names(out)
    for p in (-1.0, 1.0):
        _assert_same_values(graph, out, [np.float64(p), np.float64(0.5)])


def test_nested_loops_hoist_as_far_out_as_each_value_allows():
    def f(W, h):
        def inner(i, s):
            W, h, a = s
            return W, gnp.tanh(W.T @ h) * gnp.exp(a), a
        def outer(j, s):
            W, h = s
            a = gnp.sum(h)                    # changes every outer trip, fixed in the inner loop
            return W, fori_loop(0, 2, inner, (W, h, a))[1]
        return fori_loop(0, 3, outer, (W, h))[1]
    args = [np.array([[0.9, -0.4], [0.3, 0.7]]), np.array([0.5, -0.2])]
    graph = _graph(f, *args)
    out, _ = _hoisted(graph)
    outer_body = _loop(out).attrs["body_graph"]
    inner_body = _loop(outer_body).attrs["body_graph"]
    assert "transpose" in _names(out)                    # W.T left both loops
    assert "exp" in _names(outer_body) and "transpose" not in _names(outer_body)
    assert not {"exp", "transpose"} & set(_names(inner_body))
    _assert_same_values(graph, out, args)
    assert hoist(out) is out                             # one pass went all the way


def test_zero_trip_loop_results_unchanged_and_raising_ops_stay_in_the_body():
    def f(n, c, k, xs):
        def body(s):
            i, h, c, k = s
            return i + 1, h + gnp.log(c) + xs[k], c, k
        return while_loop(lambda s: s[0] < n, body, (0, gnp.zeros(2), c, k))[1]
    args = [np.int64(0), np.float64(0.0), np.int64(10), np.ones((3, 2))]
    graph = _graph(f, *args)
    out, hits = _hoisted(graph)
    assert "log" in _names(out)
    assert "gather" in _names(_loop(out).attrs["body_graph"])   # xs[10] would raise outside
    with np.errstate(divide="ignore"):                # log(0) = -inf now runs, unread
        _assert_same_values(graph, out, args)
    np.testing.assert_array_equal(evaluate(out, args)[0], np.zeros(2))


def test_compile_of_a_plain_loop_hoists_in_the_pipeline():
    stages = graphad.compile(rnn, backend="numpy").inspect(*RNN_ARGS)
    assert total_hits(stages.records)["hoist"] == 2
    assert "transpose" not in _names(_loop(stages.optimized).attrs["body_graph"])


def test_running_the_pipeline_twice_changes_nothing():
    optimized = graphad.grad(rnn_loss, (0, 2)).inspect(*RNN_ARGS).optimized
    again, records = optimize(optimized)
    assert again is optimized and len(records) == len(DEFAULT_PASSES)


@pytest.mark.parametrize("passes", [("hoist",), ("cse", "hoist")])
def test_hoist_alone_is_idempotent_on_the_adjoint(passes):
    graph = _hand_built_loop()
    once, _ = optimize(graph, passes)
    assert optimize(once, passes)[0] is once


@pytest.mark.parametrize("step, a", [
    (lambda k: k ** -1, np.int64(2)),                              # int power: numpy raises
    (lambda A: gnp.linalg.slogdet(A)[1], np.array([[np.nan, 0.0], [0.0, 1.0]])),  # LAPACK raises
], ids=["int-pow", "slogdet"])
def test_ops_that_raise_stay_in_a_loop_that_runs_zero_times(step, a):
    def f(a, x, n):
        def body(c):
            i, y, a = c                                  # `a` is an unchanged carry: invariant
            return i + 1, y + step(a), a
        return while_loop(lambda c: c[0] < n, body, (0, x, a))[1]

    staged = graphad.compile(f, backend="numpy")
    assert staged(a, 1.0, 0) == 1.0
    loop = next(n for n in staged.inspect(a, 1.0, 0).optimized.nodes if n.prim is while_p)
    assert any(n.prim.name in ("pow", "slogdet") for n in loop.attrs["body_graph"].nodes)

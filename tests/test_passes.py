"""Each pass on small hand-written graphs, sub-graphs, meta, semantics on random
graphs, stabilization against overflow and cancellation, gradients with passes on.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import graphad
import graphad.numpy as gnp
from graphad.backends.numba import prepare
from graphad.backends.numpy import evaluate
from graphad.ir import Const, GraphBuilder, TensorType
from graphad.passes import PASSES, optimize, rowblock, without
from graphad.passes.cse import cse
from graphad.passes.dce import dce
from graphad.passes.fold import FOLD_MAX_ELEMENTS, fold
from graphad.passes.pipeline import total_hits
from graphad.passes.reverse_mode import reverse_mode
from graphad.prims import BY_NAME
from graphad.trace import trace_function
from op_cases import BY_NAME as CASES
from op_cases import make_args
from random_graphs import adjoint_graphs, graphs

F64 = np.float64


def _builder(*shapes, dtype=F64):
    b = GraphBuilder()
    return b, [b.add_input(TensorType(s, dtype)) for s in shapes]


def _const(b, value, dtype=F64):
    (v,) = b.add(BY_NAME["constant"], (), {"value": Const(np.asarray(value, dtype))})
    return v


def _op(b, name, *inputs, **attrs):
    (v,) = b.add(BY_NAME[name], inputs, attrs)
    return v


# ---- constant folding -----------------------------------------------------------------------

def test_fold_evaluates_constant_nodes():
    b, (x,) = _builder((3,))
    six = _op(b, "mul", _const(b, 2.0), _const(b, 3.0))
    y = _op(b, "add", x, _op(b, "neg", six))
    hits = Counter()
    out = dce(fold(b.build([y]), hits))
    assert str(out) == """{ lambda a:f64[3] .
  b:f64[] = constant -6.0
  c:f64[3] = add a b
  return c }"""
    assert hits == {"fold": 2}


def test_fold_keeps_float32():
    b, (x,) = _builder((3,), dtype=np.float32)
    y = _op(b, "mul", x, _op(b, "exp", _const(b, 1.0, np.float32)))
    out = dce(fold(b.build([y])))
    (c,) = [n for n in out.nodes if n.prim.name == "constant"]
    assert c.attrs["value"].value.dtype == np.float32
    assert c.attrs["value"].value == np.exp(np.float32(1.0))


def test_fold_size_cap():
    """A non-uniform result above FOLD_MAX_ELEMENTS stays a computation."""
    for n, folded in ((FOLD_MAX_ELEMENTS, True), (FOLD_MAX_ELEMENTS + 1, False)):
        b, (x,) = _builder((n,))
        y = _op(b, "add", x, _op(b, "sin", _const(b, np.arange(n, dtype=F64))))
        out = dce(fold(b.build([y])))
        assert ("sin" not in str(out)) == folded


def test_fold_uniform_results_become_a_broadcast_scalar_of_any_size():
    """Elementwise ops on broadcast scalars are evaluated on the scalars: no huge array."""
    b, (x,) = _builder((1000, 1000))
    big = _op(b, "broadcast_to", _const(b, 2.0), shape=(1000, 1000))
    y = _op(b, "mul", x, _op(b, "exp", big))
    out = dce(fold(b.build([y])))
    assert str(out) == f"""{{ lambda a:f64[1000,1000] .
  b:f64[] = constant {float(np.exp(2.0))!r}
  c:f64[1000,1000] = broadcast_to b  shape=(1000, 1000)
  d:f64[1000,1000] = mul a c
  return d }}"""


def test_fold_canonicalizes_uniform_constant_arrays():
    b, (x,) = _builder((4, 3))
    y = _op(b, "add", x, _const(b, np.full((4, 3), 0.5)))
    hits = Counter()
    out = fold(b.build([y]), hits)
    assert hits == {"splat": 1}
    assert "constant 0.5" in str(out) and "broadcast_to" in str(out)
    assert fold(out) is out                       # the canonical form is a fixpoint


def test_fold_leaves_errors_to_run_time():
    b, _ = _builder()
    y = _op(b, "pow", _const(b, 2, np.int64), _const(b, -1, np.int64))  # numpy raises
    graph = b.build([y])
    assert fold(graph) is graph


# ---- common-subexpression elimination -------------------------------------------------------

def test_cse_merges_commutative_operations_and_equal_constants():
    b, (x, y) = _builder((3,), (3,))
    p, q = _op(b, "mul", x, y), _op(b, "mul", y, x)
    s = _op(b, "add", _op(b, "add", p, _const(b, 2.0)), _op(b, "add", q, _const(b, 2.0)))
    hits = Counter()
    out = dce(cse(b.build([s]), hits))
    assert str(out) == """{ lambda a:f64[3], b:f64[3] .
  c:f64[3] = mul a b
  d:f64[] = constant 2.0
  e:f64[3] = add c d
  f:f64[3] = add e e
  return f }"""
    assert hits == {"cse": 3}


def test_cse_keeps_operand_order_of_non_commutative_ops_and_attributes():
    b, (x, y) = _builder((2, 3), (2, 3))
    outs = [_op(b, "sub", x, y), _op(b, "sub", y, x), _op(b, "reduce_sum", x, axes=(0,)),
            _op(b, "reduce_sum", x, axes=(1,))]
    graph = b.build(outs)
    assert cse(graph) is graph


def test_cse_keeps_the_first_nodes_meta():
    b, (x,) = _builder((3,))
    first = _op(b, "sin", x)
    b.meta = {"phase": "adjoint"}
    second = _op(b, "sin", x)
    out = cse(b.build([first, second]))
    assert len(out) == 1 and out.nodes[0].meta == {}
    assert out.outputs[0] is out.outputs[1]


# ---- dead-code elimination ------------------------------------------------------------------

def test_dce_removes_what_no_output_needs():
    b, (x,) = _builder((3,))
    _op(b, "cos", x)
    y = _op(b, "sin", x)
    hits = Counter()
    out = dce(b.build([y]), hits)
    assert str(out) == """{ lambda a:f64[3] .
  b:f64[3] = sin a
  return b }"""
    assert hits == {"dce": 1} and len(out.inputs) == 1


# ---- sub-graphs -----------------------------------------------------------------------------

def _with_cond(x):
    def true_fn(v):
        return (v * 1.0 + 0.0) * gnp.sin(v)

    def false_fn(v):
        return -(-v) - gnp.cos(v) * 0.0

    return graphad.cond(gnp.sum(x) > 0, true_fn, false_fn, x)


@pytest.mark.parametrize("x", [np.array([1.0, 2.0]), np.array([-1.0, -2.0])])
def test_passes_optimize_inside_sub_graphs_and_keep_them_correct(x):
    graph = trace_function(_with_cond, [x]).graph
    (node,) = [n for n in graph.nodes if n.prim.name == "cond"]
    out, records = optimize(graph)
    out.verify()
    (new,) = [n for n in out.nodes if n.prim.name == "cond"]
    assert new.attrs["true_branch"].count_nodes() < node.attrs["true_branch"].count_nodes()
    assert new.attrs["false_branch"].in_types == node.attrs["false_branch"].in_types
    np.testing.assert_allclose(evaluate(out, [x])[0], evaluate(graph, [x])[0], rtol=1e-15)
    assert "mul-one" in str(records)


# ---- meta -----------------------------------------------------------------------------------

def test_adjoint_phase_survives_optimization():
    graph = trace_function(lambda w, x: gnp.sum(gnp.tanh(x * w) * 2.0), [1.0, np.ones(3)]).graph
    adjoint = reverse_mode(graph, (0,))
    out, _ = optimize(adjoint)
    phases = [n.meta.get("phase") for n in out.nodes]
    assert "adjoint" in phases and None in phases
    by_prim = {n.prim.name: n.meta.get("phase") for n in out.nodes}
    assert by_prim["tanh"] is None                              # forward stays forward
    assert by_prim["reduce_sum"] == "adjoint"


# ---- semantics on random graphs -------------------------------------------------------------

def _assert_same_values(want, got, rtol=1e-7):
    for w, g in zip(want, got):
        w, g = np.asarray(w), np.asarray(g)
        assert w.shape == g.shape and w.dtype == g.dtype
        scale = max(1.0, float(np.max(np.abs(w), initial=0.0)))
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-9 * scale)


SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@SETTINGS
@given(graphs(max_steps=12))
def test_pipeline_keeps_values_and_is_idempotent(case):
    graph, args = case
    out, _ = optimize(graph)
    out.verify()
    _assert_same_values(evaluate(graph, args), evaluate(out, args))
    again, records = optimize(out)
    assert again is out, "a second run of the pipeline changed the graph"
    # A refused rewrite (one that would change the type) is reported again, changing nothing.
    changed = [r for r in records if r["before"] != r["after"]
               or any(not hit.endswith(":refused") for hit in r["hits"])]
    assert not changed


@SETTINGS
@given(adjoint_graphs())
def test_pipeline_on_gradient_graphs(case):
    graph, args = case
    out, _ = optimize(graph)
    out.verify()
    _assert_same_values(evaluate(graph, args), evaluate(out, args))
    assert out.count_nodes() <= graph.count_nodes()
    assert optimize(out)[0] is out


@pytest.mark.parametrize("name", sorted(PASSES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=graphs(max_steps=10))
def test_each_pass_alone_keeps_values(name, case):
    graph, args = case
    out = PASSES[name](graph)
    out.verify()
    if name != "unsafe":                         # the generated values are finite: unsafe is exact
        _assert_same_values(evaluate(graph, args), evaluate(out, args))


# ---- stabilization: the unoptimized graph fails where the rewritten one does not -------------

STABILIZATION = [
    # (what, function, argument, true value)
    ("log(1+x) cancels", lambda x: gnp.log(1.0 + x), 1e-18, 1e-18),
    ("log(1-x) cancels", lambda x: gnp.log(1.0 - x), 1e-18, -1e-18),
    ("exp(x)-1 cancels", lambda x: gnp.exp(x) - 1.0, 1e-18, 1e-18),
    ("exp(x)+-1 cancels", lambda x: gnp.exp(x) + -1.0, 1e-18, 1e-18),
    ("1-exp(x) cancels", lambda x: 1.0 - gnp.exp(x), 1e-18, -1e-18),
    ("log(exp x) overflows", lambda x: gnp.log(gnp.exp(x)), 800.0, 800.0),
    ("log(sigmoid x) underflows", lambda x: gnp.log(gnp.sigmoid(x)), -800.0, -800.0),
    ("log(1-sigmoid x) underflows", lambda x: gnp.log(1.0 - gnp.sigmoid(x)), 800.0, -800.0),
    ("log1p(-sigmoid x) underflows", lambda x: gnp.log1p(-gnp.sigmoid(x)), 800.0, -800.0),
    ("log(1+exp x) overflows", lambda x: gnp.log(1.0 + gnp.exp(x)), 800.0, 800.0),
    ("log1p(exp x) overflows", lambda x: gnp.log1p(gnp.exp(x)), 800.0, 800.0),
    ("log(1/x) overflows", lambda x: gnp.log(gnp.reciprocal(x)), 1e-310, -np.log(1e-310)),
    ("log(1/x) as a division", lambda x: gnp.log(1.0 / x), 1e-310, -np.log(1e-310)),
    ("log(sum(exp x)) overflows", lambda x: gnp.log(gnp.sum(gnp.exp(x))),
     np.array([1000.0, 1000.0]), 1000.0 + np.log(2.0)),
    ("log(sum(exp x), keepdims) overflows",
     lambda x: gnp.log(gnp.sum(gnp.exp(x), axis=0, keepdims=True)),
     np.array([1000.0, 1000.0]), np.array([1000.0 + np.log(2.0)])),
    ("shifted logsumexp is nan at inf",
     lambda x: gnp.max(x) + gnp.log(gnp.sum(gnp.exp(x - gnp.max(x)))),
     np.array([np.inf, 0.0]), np.inf),
    ("log softmax overflows", lambda x: gnp.log(gnp.exp(x) / gnp.sum(gnp.exp(x))),
     np.array([1000.0, 0.0]), np.array([0.0, -1000.0])),
    ("softmax cross-entropy overflows",
     lambda x: -gnp.sum(np.array([0.0, 1.0]) * gnp.log(gnp.exp(x) / gnp.sum(gnp.exp(x)))),
     np.array([1000.0, 0.0]), 1000.0),
    ("sigmoid cross-entropy underflows",
     lambda x: -(0.3 * gnp.log(gnp.sigmoid(x)) + 0.7 * gnp.log(1.0 - gnp.sigmoid(x))),
     -800.0, 0.3 * 800.0),
    ("sqrt(x*x) overflows", lambda x: gnp.sqrt(x * x), 1e200, 1e200),
    ("sqrt(square x) overflows", lambda x: gnp.sqrt(gnp.square(x)), -1e200, 1e200),
    ("(x*c)*d overflows in between", lambda x: (x * 1e10) * 1e-20, 1e300, 1e290),
]


@pytest.mark.parametrize("what,fn,x,truth", STABILIZATION, ids=[s[0] for s in STABILIZATION])
def test_stabilization_fixes_what_the_plain_graph_gets_wrong(what, fn, x, truth):
    x = np.asarray(x, F64)
    graph = trace_function(fn, [x]).graph
    plain = np.asarray(evaluate(graph, [x])[0])
    off, _ = optimize(graph, without("stabilize"))
    on, _ = optimize(graph)
    assert not np.allclose(plain, truth, rtol=1e-6, atol=0), "the example must be a failure case"
    np.testing.assert_allclose(evaluate(on, [x])[0], truth, rtol=1e-12)
    assert not np.allclose(evaluate(off, [x])[0], truth, rtol=1e-6, atol=0)


def _square_softmax_lookalike(x):      # divides row i by the sum of row j (broadcasting)
    return gnp.log(gnp.exp(x) / gnp.sum(gnp.exp(x), axis=1))


def _shift_by_the_wrong_axis(x):       # subtracts max of row j from column j
    return gnp.max(x, axis=1) + gnp.log(gnp.sum(gnp.exp(x - gnp.max(x, axis=1)), axis=1))


def _keepdims_max_plain_sum(x):        # (3,1) + (3,): an outer sum, not a logsumexp
    m = gnp.max(x, axis=1, keepdims=True)
    return m + gnp.log(gnp.sum(gnp.exp(x - m), axis=1))


@pytest.mark.parametrize("fn", [_square_softmax_lookalike, _shift_by_the_wrong_axis,
                                _keepdims_max_plain_sum])
def test_stabilization_declines_lookalikes_that_broadcast_differently(fn):
    x = np.arange(9.0).reshape(3, 3) / 4
    graph = trace_function(fn, [x]).graph
    out, records = optimize(graph)
    np.testing.assert_allclose(evaluate(out, [x])[0], evaluate(graph, [x])[0], rtol=1e-12)
    assert not {"log-softmax", "logsumexp-shift"} & set(total_hits(records))


# ---- gradients with passes on ---------------------------------------------------------------

GRAD_CASES = ["mix/softmax", "mix/mlp", "mix/normalize", "mix/tanh-by-exp", "mix/fan-out",
              "maximum/x,0", "where/nan-branch", "logsumexp/axis=1/keepdims=True",
              "op/x**3-negative-base", "prod/axis=(0, 2)/keepdims=False", "getitem[:,-1:-4:-1]",
              "matmul/batched", "var/ddof=1", "sigmoid[2, 3]", "softplus"]


def _central_difference(f, args, i, direction, eps=1e-6):
    plus = [a + eps * direction if j == i else a for j, a in enumerate(args)]
    minus = [a - eps * direction if j == i else a for j, a in enumerate(args)]
    return (f(*plus) - f(*minus)) / (2 * eps)


@pytest.mark.parametrize("name", GRAD_CASES)
def test_gradients_match_finite_differences_with_passes_on(name):
    case = CASES[name]
    args = make_args(case)
    rng = np.random.default_rng(0)
    weights = np.asarray(rng.standard_normal(np.shape(case.ref(*args))))

    def loss(*xs):
        return gnp.sum(case.fn(*xs) * weights)

    def loss_ref(*xs):
        return float(np.sum(case.ref(*xs) * weights))

    wrt = case.wrt
    grad = graphad.compile(graphad.grad(loss, wrt), passes=graphad.passes.DEFAULT_PASSES)
    stages = grad.inspect(*args)
    assert stages.optimized.count_nodes() < stages.adjoint.count_nodes()
    grads = grad(*args)
    for i, g in zip(wrt, grads):
        d = rng.standard_normal(np.shape(args[i]))
        fd = _central_difference(loss_ref, args, i, d)
        np.testing.assert_allclose(np.sum(np.asarray(g) * d), fd, rtol=1e-6, atol=1e-8)


# ---- no expansion ---------------------------------------------------------------------------

def _logistic(n):
    def f(x):
        v = x
        for _ in range(n):
            v = 4.0 * v * (1.0 - v)
        return gnp.sum(v)
    return f


def test_the_logistic_map_gradient_stays_linear():
    """PyTensor's simplifier expands 4v(1-v) chains; every layer here adds the same count."""
    sizes = [optimize(reverse_mode(trace_function(_logistic(n), [np.ones(3)]).graph, (0,)))[0]
             .count_nodes() for n in (10, 11, 20, 21)]
    assert sizes[1] - sizes[0] == sizes[3] - sizes[2] <= 7


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(adjoint_graphs())
def test_numba_backend_preparation_keeps_values(case):
    # what the Numba backend runs instead of the optimized graph: logsumexp split in two
    # loops (its gradient rewritten to reuse the exp-sum terms), fusion, row blocking
    graph, args = case
    optimized, _ = optimize(graph)
    old, rowblock.MIN_BYTES = rowblock.MIN_BYTES, 0         # join small matrices too
    try:
        prepared = prepare(optimized)
    finally:
        rowblock.MIN_BYTES = old
    prepared.verify()
    _assert_same_values(evaluate(optimized, args), evaluate(prepared, args))

"""Every primitive, through the op suite (tests/op_cases.py):

1. graphad.numpy on arrays, and the traced graph under the numpy oracle, match numpy;
2. reverse mode matches central differences: <vjp(u), v> == <u, (f(x+ev)-f(x-ev))/2e>;
3. each primitive's jvp rule, run eagerly node by node, matches central differences,
   and <u, jvp(v)> == <vjp(u), v>;
4. the registry is complete: every primitive is exercised and has its rules;
5. the verifier accepts every traced and every reverse-mode graph;
6. float32 in gives float32 out and float32 gradients;
7. the subgradients at kinks documented in API.md.
"""
from __future__ import annotations

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.backends.numpy import evaluate
from graphad.prims import ALL_PRIMITIVES
from graphad.trace import trace_function
from graphad.tree import tree_leaves

from op_cases import CASES, make_args, primitives_in, traced_graph

DIFF = [c for c in CASES if c.wrt]
FD = [c for c in DIFF if c.fd]
ids = lambda c: c.name  # noqa: E731


def _leaves(out):
    return [np.asarray(o) for o in tree_leaves(out)]


def _assert_same(got, want, rtol=1e-12, what=""):
    got = np.asarray(got)
    assert got.dtype == want.dtype, f"{what}dtype {got.dtype}, numpy gives {want.dtype}"
    assert got.shape == want.shape, f"{what}shape {got.shape}, numpy gives {want.shape}"
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def _inner(xs, ys):
    return float(sum(np.sum(np.asarray(x, np.float64) * np.asarray(y, np.float64))
                     for x, y in zip(xs, ys)))


def _close(a, b, tol, what):
    assert abs(a - b) <= tol * max(abs(a), abs(b), 1.0), f"{what}: {a!r} vs {b!r}"


# ---- the pieces every derivative check needs ------------------------------------------

def _directions(case, args, rng):
    return [rng.standard_normal(args[i].shape).astype(args[i].dtype) for i in case.wrt]


def _cotangents(outs, rng):
    return [rng.standard_normal(o.shape).astype(o.dtype) for o in outs]


def _with(case, args, xs):
    full = list(args)
    for i, x in zip(case.wrt, xs):
        full[i] = x
    return full


def _central_difference(f, case, args, dirs, eps):
    """Leaves of (f(x + eps v) - f(x - eps v)) / 2 eps over the arguments case.wrt."""
    def at(s):
        return _leaves(f(*_with(case, args, [args[i] + s * eps * v
                                             for i, v in zip(case.wrt, dirs)])))
    return [(p.astype(np.float64) - m) / (2 * eps) for p, m in zip(at(1), at(-1))]


def _pairing(case, args, cots):
    """<u, f(x)> as a function of the differentiated arguments only."""
    def f(*xs):
        outs = tree_leaves(case.fn(*_with(case, args, xs)))
        return sum(gnp.sum(o * u) for o, u in zip(outs, cots))
    return f


def _vjp(case, args, cots):
    argnums = tuple(range(len(case.wrt)))
    return graphad.grad(_pairing(case, args, cots), argnums)(*[args[i] for i in case.wrt])


def jvp_evaluate(graph, args, tangents):
    """Forward mode by hand: each node's impl, then its jvp rule on numpy arrays."""
    env = dict(zip(graph.inputs, args))
    tan = dict(zip(graph.inputs, tangents))
    zero = lambda v: np.zeros(v.type.shape, v.type.dtype)  # noqa: E731
    for node in graph.nodes:
        ins = [env[v] for v in node.inputs]
        out = node.prim.impl(*ins, **node.attrs)
        outs = tuple(out) if node.prim.multiple_results else (out,)
        env.update(zip(node.outputs, outs))
        if node.prim.differentiable and any(v.type.is_float for v in node.outputs):
            ts = [tan[v] if v in tan else zero(v) for v in node.inputs]
            t_out = node.prim.jvp(ts, *ins, out=out, **node.attrs)
            t_outs = tuple(t_out) if node.prim.multiple_results else (t_out,)
            for v, t in zip(node.outputs, t_outs):
                t = np.asarray(t)
                assert (t.shape, t.dtype) == (v.type.shape, v.type.dtype), (
                    f"{node.prim.name} jvp gives {t.dtype}{t.shape} for {v.type}")
                tan[v] = t
    return [tan.get(v, zero(v)) for v in graph.outputs]


# ---- 1. numpy semantics -----------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=ids)
def test_matches_numpy(case):
    args = make_args(case)
    want = _leaves(case.ref(*args))
    for w, got in zip(want, _leaves(case.fn(*args)), strict=True):
        _assert_same(got, w, what="graphad.numpy on arrays: ")
    graph, _ = traced_graph(case)
    for w, got in zip(want, evaluate(graph, args), strict=True):
        _assert_same(got, w, what="traced graph: ")


@pytest.mark.parametrize("case", [c for c in CASES if c.dispatch], ids=ids)
def test_numpy_functions_on_tracers(case):
    """The same body written with plain numpy records the same computation."""
    args = make_args(case)
    graph = trace_function(case.ref, args).graph
    for w, got in zip(_leaves(case.ref(*args)), evaluate(graph, args), strict=True):
        _assert_same(got, w)


# ---- 2. reverse mode against finite differences --------------------------------------

@pytest.mark.parametrize("case", FD, ids=ids)
def test_vjp_matches_finite_differences(case):
    rng = np.random.default_rng(1)
    args = make_args(case)
    outs = _leaves(case.ref(*args))
    assert all(o.dtype.kind == "f" for o in outs), "a differentiated case must return floats"
    cots, dirs = _cotangents(outs, rng), _directions(case, args, rng)
    grads = _vjp(case, args, cots)
    for g, i in zip(grads, case.wrt):
        assert np.asarray(g).shape == args[i].shape and np.asarray(g).dtype == args[i].dtype
    fd = _central_difference(case.ref, case, args, dirs, case.eps)
    _close(_inner(grads, dirs), _inner(cots, fd), case.tol, "<vjp(u), v> vs <u, fd(v)>")


# ---- 3. jvp rules, eagerly ------------------------------------------------------------

@pytest.mark.parametrize("case", [c for c in DIFF if c.jvp], ids=ids)
def test_jvp_rules(case):
    rng = np.random.default_rng(2)
    graph, args = traced_graph(case)
    dirs = _directions(case, args, rng)
    tangents = [np.zeros_like(a) for a in args]
    for i, v in zip(case.wrt, dirs):
        tangents[i] = v
    jvp = jvp_evaluate(graph, args, tangents)
    if case.fd:
        fd = _central_difference(case.ref, case, args, dirs, case.eps)
        for t, d in zip(jvp, fd, strict=True):
            scale = max(1.0, float(np.max(np.abs(d), initial=0)))
            np.testing.assert_allclose(t, d, rtol=10 * case.tol, atol=10 * case.tol * scale)
    cots = _cotangents(_leaves(case.ref(*args)), rng)
    tol = 1e-10 if case.tol <= 1e-6 else case.tol   # float32 stages round the tangents
    _close(_inner(cots, jvp), _inner(_vjp(case, args, cots), dirs), tol,
           "<u, jvp(v)> vs <vjp(u), v>")


# ---- second order: the rules differentiate themselves ------------------------------

@pytest.mark.parametrize("case", [c for c in FD if c.second_order], ids=ids)
def test_second_order(case):
    """d/dx <vjp(u)(x), w> in direction v, against central differences of vjp."""
    rng = np.random.default_rng(3)
    args = make_args(case)
    cots = _cotangents(_leaves(case.ref(*args)), rng)
    ws, dirs = _directions(case, args, rng), _directions(case, args, rng)
    argnums = tuple(range(len(case.wrt)))
    grad_pairing = graphad.grad(_pairing(case, args, cots), argnums)

    def h(*xs):
        return sum(gnp.sum(g * w) for g, w in zip(grad_pairing(*xs), ws))

    hess = graphad.grad(h, argnums)(*[args[i] for i in case.wrt])
    eps = max(case.eps, 1e-5)
    fd = _central_difference(lambda *a: h(*[a[i] for i in case.wrt]), case, args, dirs, eps)
    _close(_inner(hess, dirs), float(fd[0]), 100 * case.tol, "second derivative")


# ---- 4. registry completeness -------------------------------------------------------

def _used(cases):
    seen = {}
    for c in cases:
        for name in primitives_in(traced_graph(c)[0]):
            seen.setdefault(name, c.name)
    return seen


def test_every_primitive_has_a_case():
    seen = _used(CASES)
    missing = [p.name for p in ALL_PRIMITIVES if p.name not in seen]
    assert not missing, f"primitives no op case exercises: {missing}"


# Differentiable primitives whose own derivative is never taken by a case, and why.
NOT_FD_CHECKED = {}


def test_every_differentiable_primitive_is_gradient_checked():
    seen = _used(FD)
    missing = [p.name for p in ALL_PRIMITIVES
               if p.differentiable and p.name not in seen and p.name not in NOT_FD_CHECKED]
    assert not missing, f"differentiable primitives no finite-difference case reaches: {missing}"


@pytest.mark.parametrize("prim", ALL_PRIMITIVES, ids=lambda p: p.name)
def test_rules_present(prim):
    assert prim.infer is not None and prim.impl is not None, f"{prim.name}: shape rule or impl"
    if prim.differentiable:
        assert prim.vjp is not None, f"{prim.name} is differentiable but has no vjp rule"
        assert prim.jvp is not None, f"{prim.name} is differentiable but has no jvp rule"


# ---- 5. the verifier ------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=ids)
def test_graphs_verify(case):
    graph, args = traced_graph(case)
    graph.verify()
    if case.wrt:
        cots = _cotangents(_leaves(case.ref(*args)), np.random.default_rng(4))
        argnums = tuple(range(len(case.wrt)))
        stages = graphad.inspect(graphad.grad(_pairing(case, args, cots), argnums),
                                 *[args[i] for i in case.wrt])
        stages.adjoint.verify()
        stages.optimized.verify()


# ---- 6. float32 stays float32 ---------------------------------------------------------

F32 = [c for c in CASES if c.f32 and any(a.dtype.startswith("float") for a in c.args)]


@pytest.mark.parametrize("case", F32, ids=ids)
def test_float32(case):
    args = make_args(case, float_dtype=np.float32)
    want = _leaves(case.ref(*args))
    graph, _ = traced_graph(case, float_dtype=np.float32)
    for w, got, eager in zip(want, evaluate(graph, args), _leaves(case.fn(*args)), strict=True):
        _assert_same(got, w, rtol=1e-5, what="traced float32: ")
        _assert_same(eager, w, rtol=1e-5, what="eager float32: ")
    if not case.wrt or not case.fd:
        return
    rng = np.random.default_rng(5)
    cots = _cotangents(want, rng)
    g32 = _vjp(case, args, cots)
    args64 = make_args(case)
    g64 = _vjp(case, args64, [c.astype(np.float64) if c.dtype == np.float32 else c for c in cots])
    for a, b, i in zip(g32, g64, case.wrt):
        a = np.asarray(a)
        assert a.dtype == args[i].dtype, f"gradient dtype {a.dtype} for a {args[i].dtype} input"
        scale = max(1.0, float(np.max(np.abs(b), initial=0)))
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * scale)


# ---- 7. kinks (API.md) ----------------------------------------------------------------

def _g(f, *args, argnums=0):
    return graphad.grad(f, argnums)(*[np.asarray(a, np.float64) for a in args])


def test_abs_at_zero():
    assert _g(lambda x: gnp.sum(gnp.abs(x)), [0.0, -2.0, 3.0]).tolist() == [0.0, -1.0, 1.0]
    assert _g(lambda x: gnp.sum(abs(x)), 0.0) == 0.0


def test_maximum_minimum_split_ties():
    assert _g(lambda x: gnp.maximum(x, 0.0), 0.0) == 0.5
    assert _g(lambda x: gnp.minimum(x, 0.0), 0.0) == 0.5
    assert _g(lambda x: gnp.maximum(x, x), 1.5) == 1.0
    assert _g(lambda x: gnp.minimum(x, x), 1.5) == 1.0
    gx, gy = _g(lambda x, y: gnp.sum(gnp.maximum(x, y)), [1.0, 2.0, 3.0], [1.0, 0.0, 5.0],
                argnums=(0, 1))
    assert gx.tolist() == [0.5, 1.0, 0.0] and gy.tolist() == [0.5, 0.0, 1.0]
    assert _g(lambda x: gnp.sum(gnp.clip(x, -1.0, 1.0)), [-1.0, 0.0, 1.0, 2.0]).tolist() == \
        [0.5, 1.0, 0.5, 0.0]


def test_reduce_max_min_split_ties():
    assert _g(lambda x: gnp.max(x), [1.0, 3.0, 3.0, 2.0]).tolist() == [0.0, 0.5, 0.5, 0.0]
    assert _g(lambda x: gnp.min(x), [1.0, 1.0, 1.0, 2.0]).tolist() == [1 / 3, 1 / 3, 1 / 3, 0.0]
    g = _g(lambda x: gnp.sum(gnp.max(x, axis=0) * np.array([1.0, 10.0])), [[1.0, 4.0], [1.0, 2.0]])
    assert g.tolist() == [[0.5, 10.0], [0.5, 0.0]]


def test_where_routes_to_chosen_branch():
    f = lambda x, y: gnp.sum(gnp.where(x > 0, x * y, y))  # noqa: E731
    gx, gy = _g(f, [1.0, -1.0, 2.0], [3.0, 4.0, 5.0], argnums=(0, 1))
    assert gx.tolist() == [3.0, 0.0, 5.0] and gy.tolist() == [1.0, 1.0, 2.0]


@pytest.mark.parametrize("x", [-1.0, 0.0])
def test_where_branch_not_taken_leaks_no_nan(x):
    assert _g(lambda x: gnp.where(x > 0, gnp.sqrt(x), 0.0), x) == 0.0
    deep = lambda x: gnp.where(x > 0, gnp.exp(gnp.log(gnp.sqrt(x)) * 2.0) + 1.0, x * 3.0)  # noqa
    assert _g(deep, x) == 3.0
    assert _g(lambda x: gnp.sum(gnp.where(x > 0, 1 / x, x)), [x, 2.0]).tolist() == [1.0, -0.25]


@pytest.mark.parametrize("x, want", [
    ([2.0, 3.0, 4.0], [12.0, 8.0, 6.0]),
    ([2.0, 0.0, 4.0], [0.0, 8.0, 0.0]),        # one zero: only its partial survives
    ([0.0, 3.0, 0.0], [0.0, 0.0, 0.0]),        # two zeros: every partial is zero
])
def test_prod_with_zeros(x, want):
    assert _g(lambda x: gnp.prod(x), x).tolist() == want
    t = jvp_evaluate(*_prod_graph(x), [np.ones(3)])[0]
    assert float(t) == sum(want)


def _prod_graph(x):
    x = np.asarray(x)
    return trace_function(gnp.prod, [x]).graph, [x]


def test_prod_with_zeros_along_an_axis():
    x = np.array([[0.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 0.0, 5.0]])
    g = _g(lambda x: gnp.sum(gnp.prod(x, axis=1) * np.array([1.0, 10.0, 100.0])), x)
    assert g.tolist() == [[6.0, 0.0, 0.0], [60.0, 30.0, 20.0], [0.0, 0.0, 0.0]]


def test_power_kinks():
    assert _g(lambda x: x ** 0.0, 0.0) == 0.0                 # constant: not 0 * 0**-1
    assert _g(lambda x: x ** 2.0, 0.0) == 0.0
    assert _g(lambda x: x ** 1.0, 0.0) == 1.0
    assert _g(lambda y: 0.0 ** y, 2.0) == 0.0                 # no log(0) in d/dy
    gx, gy = _g(lambda x, y: x ** y, 0.0, 0.0, argnums=(0, 1))
    assert (gx, gy) == (0.0, 0.0)


def test_stop_gradient():
    x = np.array([1.0, -2.0, 3.0])
    assert _g(lambda x: gnp.sum(x * gnp.stop_gradient(x)), x).tolist() == x.tolist()
    assert _g(lambda x: gnp.sum(gnp.stop_gradient(x) ** 2), x).tolist() == [0.0, 0.0, 0.0]


def test_piecewise_constant_have_zero_gradient():
    for f in (gnp.floor, gnp.ceil, gnp.round, gnp.sign):
        assert _g(lambda x: gnp.sum(f(x) * x), [0.5, 1.5]).tolist() == np.asarray(
            f(np.array([0.5, 1.5]))).tolist()


# ---- 8. kinks and conventions of the numpy-coverage functions ---------------------------

def test_sinc_at_zero():
    assert gnp.sinc(np.array(0.0)) == 1.0
    assert _g(lambda x: gnp.sinc(x), 0.0) == 0.0


def test_logaddexp_ties_and_infinities():
    assert _g(lambda x, y: gnp.logaddexp(x, y), 1.0, 1.0, argnums=(0, 1)) == (0.5, 0.5)
    assert gnp.logaddexp(-np.inf, -np.inf) == -np.inf
    assert gnp.logaddexp(np.inf, np.inf) == np.inf
    assert gnp.logaddexp2(np.array(3.0), np.array(3.0)) == 4.0


def test_hypot_at_zero_and_fmax_ties():
    assert _g(lambda x, y: gnp.hypot(x, y), 0.0, 0.0, argnums=(0, 1)) == (0.0, 0.0)
    np.testing.assert_allclose(_g(lambda x, y: gnp.hypot(x, y), 3.0, 4.0, argnums=(0, 1)),
                               (0.6, 0.8), rtol=1e-15)
    assert _g(lambda x: gnp.fmax(x, x), 2.0) == 1.0
    assert _g(lambda x: gnp.sum(gnp.fmax(x, np.array([np.nan, 5.0]))), [1.0, 1.0]).tolist() \
        == [1.0, 0.0]


def test_remainder_and_floor_divide_follow_numpy_signs():
    x = np.array([-7.5, -7.0, 7.0, 7.5, -0.5, 3.0, 0.0])
    y = np.array([2.0, -2.0, -2.0, 2.0, 3.0, 0.0, 2.0])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(gnp.remainder(x, y), np.remainder(x, y))
        np.testing.assert_array_equal(gnp.floor_divide(x, y), np.floor_divide(x, y))
    i, j = np.array([-7, -7, 7, 7, 0]), np.array([2, -2, -2, 2, 3])
    np.testing.assert_array_equal(gnp.floor_divide(i, j), i // j)
    np.testing.assert_array_equal(gnp.remainder(i, j), i % j)
    # d/dy (x mod y) = -floor(x / y)
    assert _g(lambda y: gnp.remainder(7.5, y), 2.0) == -3.0


def test_repeated_indices_accumulate():
    g = _g(lambda x: gnp.sum(x[np.array([0, 0, 2, 0])] * np.array([1.0, 2.0, 3.0, 4.0])),
           [1.0, 1.0, 1.0])
    assert g.tolist() == [7.0, 0.0, 3.0]
    g = _g(lambda x: gnp.sum(gnp.take(x, [1, 1], axis=1)), np.ones((2, 3)))
    assert g.tolist() == [[0.0, 2.0, 0.0], [0.0, 2.0, 0.0]]


def test_sort_gradient_follows_the_permutation():
    x = np.array([3.0, 1.0, 2.0])
    g = _g(lambda x: gnp.sum(gnp.sort(x) * np.array([1.0, 10.0, 100.0])), x)
    assert g.tolist() == [100.0, 1.0, 10.0]


def test_partition_agrees_with_numpy_at_kth():
    x = np.random.default_rng(0).standard_normal((3, 7))
    for kth in (0, 3, 6):
        got, want = gnp.partition(x, kth), np.partition(x, kth)
        np.testing.assert_array_equal(got[:, kth], want[:, kth])
        assert np.all(got[:, :kth] <= got[:, kth:kth + 1]) and np.all(got[:, kth:] >= got[:, kth:kth + 1])


def test_cumprod_with_zeros_closed_form():
    x = np.array([2.0, 0.0, 3.0, 4.0])
    # d/dx_i sum_j cumprod_j = sum_{j >= i} prod_{k <= j, k != i} x_k
    assert _g(lambda x: gnp.sum(gnp.cumprod(x)), x).tolist() == [1.0, 2.0 + 6.0 + 24.0, 0.0, 0.0]


def test_traced_boolean_mask_is_refused():
    with pytest.raises(graphad.UnsupportedOperationError, match="constant mask"):
        graphad.grad(lambda x: gnp.sum(x[x > 0]))(np.ones(3))


def test_constant_index_out_of_bounds():
    with pytest.raises(graphad.IndexOutOfBoundsError, match="index 3 is out of bounds"):
        graphad.grad(lambda x: gnp.sum(x[np.array([0, 3])]))(np.ones(3))


def test_eigh_cotangent_is_symmetric():
    a = np.random.default_rng(1).standard_normal((3, 3))
    g = _g(lambda a: gnp.sum(gnp.linalg.eigh(a)[0] * np.array([1.0, 2.0, 3.0])), a + a.T)
    np.testing.assert_allclose(g, g.T, atol=1e-12)


def test_linalg_is_a_submodule():
    import importlib
    assert importlib.import_module("graphad.numpy.linalg") is gnp.linalg
    stages = graphad.inspect(lambda a: np.linalg.norm(a), np.ones((2, 2)))
    assert "reduce_sum" in primitives_in(stages.traced)


def test_unsupported_linalg_names_the_function():
    with pytest.raises(graphad.UnsupportedOperationError, match="numpy.linalg.svd"):
        graphad.grad(lambda a: gnp.sum(np.linalg.svd(a)[1]))(np.eye(2))

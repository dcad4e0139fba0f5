"""The Numba backend agrees with the numpy oracle.

Compiling is slow, so the op suite runs on a representative subset (every
primitive and dtype family the suite exercises, forward and gradient), with
many cases compiled together as one kernel, and the disk cache in one
directory for the whole session.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphad
import graphad.numpy as gnp
from graphad.backends.numba import compile_graph, lowering_of, prepare
from graphad.backends.numba.codegen import Options, generate
from graphad.backends.numpy import evaluate
from graphad.ir import Graph
from graphad.passes.pipeline import optimize
from graphad.prims import ALL_PRIMITIVES
from graphad.tree import tree_leaves

try:
    import op_cases
except ImportError:                       # pragma: no cover - written concurrently
    op_cases = None
try:
    from random_graphs import adjoint_graphs, graphs
except ImportError:                       # pragma: no cover
    graphs = adjoint_graphs = None


pytestmark = pytest.mark.usefixtures("shared_cache_dir")


def test_every_primitive_has_a_lowering():
    missing = [p.name for p in ALL_PRIMITIVES if lowering_of(p) is None]
    assert not missing, f"primitives without a Numba lowering: {', '.join(missing)}"
    from graphad.prims import control
    assert {lowering_of(p) for p in control.PRIMITIVES} == {"control"}


# ---- agreement with the oracle -----------------------------------------------------------

def assert_agree(got, want, tol, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, \
        f"{what}: {got.dtype}{list(got.shape)} vs oracle {want.dtype}{list(want.shape)}"
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)])
    if finite.any():
        scale = float(np.max(np.abs(want[finite]))) or 1.0
        err = float(np.max(np.abs(got[finite].astype(np.float64) - want[finite])))
        assert err <= tol * scale, f"{what}: error {err:.3g} > {tol} x {scale:.3g}"


def combined(graphs):
    """Several graphs side by side as one (one kernel to compile)."""
    return Graph([v for g in graphs for v in g.inputs], [n for g in graphs for n in g.nodes],
                 [v for g in graphs for v in g.outputs])


def check_group(items, tol, options=None):
    """items: (name, optimized graph, args). Compiles them as one kernel, compares per output."""
    graph = combined([g for _, g, _ in items])
    args = [a for _, _, xs in items for a in xs]
    names = [name for name, g, _ in items for _ in g.outputs]
    tols = [max(tol, 1e-5) if _has_float32(g) else tol for _, g, _ in items for _ in g.outputs]
    exe = compile_graph(prepare(graph), strict=True, **(options or {}))
    for name, got, want, t in zip(names, exe(args), evaluate(graph, args), tols):
        assert_agree(got, want, t, name)


def _has_float32(graph):
    return any(v.dtype == np.float32 for n in _all_nodes(graph) for v in n.outputs)


def _groups(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def _cover(cases, graph_of):
    """A few cases that together use every (primitive, dtype kind) the suite uses."""
    seen, chosen = set(), []
    for case in cases:
        try:
            graph, args = graph_of(case)
        except Exception:
            continue
        used = {(n.prim.name, v.dtype.kind) for n in _all_nodes(graph) for v in n.inputs}
        used |= {(n.prim.name, "") for n in _all_nodes(graph)}
        if used - seen or case.name.startswith("mix/"):
            seen |= used
            chosen.append((case.name, graph, args))
    return chosen


def _all_nodes(graph):
    for n in graph.nodes:
        yield n
        for sub in n.subgraphs():
            yield from _all_nodes(sub)


def _forward(case, float_dtype=None):
    graph, args = op_cases.traced_graph(case, float_dtype=float_dtype)
    return optimize(graph)[0], args


def _gradient(case):
    args = op_cases.make_args(case)
    rng = np.random.default_rng(1)
    cots = [rng.standard_normal(np.shape(o)) for o in tree_leaves(case.ref(*args))]

    def loss(*xs):
        ys = tree_leaves(case.fn(*xs))
        return sum(gnp.sum(y * c) for y, c in zip(ys, cots) if np.dtype(y.dtype).kind == "f")
    stages = graphad.inspect(graphad.grad(loss, argnums=case.wrt), *args)
    return stages.optimized, args


needs_cases = pytest.mark.skipif(op_cases is None, reason="tests/op_cases.py not present")


@pytest.fixture(scope="module")
def forward_cases():
    return _cover(op_cases.CASES, _forward)


@needs_cases
@pytest.mark.parametrize("part", range(3))
def test_op_suite_forward_float64(forward_cases, part):
    for group in _groups(forward_cases, 30)[part::3]:
        check_group(group, 1e-12)


@needs_cases
def test_op_suite_forward_float32():
    cases = [c for c in op_cases.CASES if all(a.dtype == "float64" for a in c.args)]
    items = _cover(cases, lambda c: _forward(c, np.float32))
    for group in _groups(items, 40):
        check_group(group, 1e-5)


@needs_cases
@pytest.mark.parametrize("part", range(3))
def test_op_suite_gradients_float64(part):
    cases = [c for c in op_cases.CASES if c.wrt and c.fd][part::3]
    for group in _groups(_cover(cases, _gradient), 15):
        check_group(group, 1e-12)


def test_parallel_loops_and_chunked_reductions_agree():
    # parallel_work=0 makes every region parallel: outer prange, and chunks for
    # reductions over the outer axis (sums, max with a NaN, argmax ties, logsumexp)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((37, 5))
    x[3, 2] = np.nan
    y = np.round(rng.standard_normal((37, 5)))

    def f(x, y):
        return (gnp.sum(x * y, axis=0), gnp.max(x, axis=0), gnp.argmax(y, axis=0),
                gnp.logsumexp(y, axis=0), gnp.sum(gnp.exp(y)), gnp.min(y * 2, axis=1),
                gnp.prod(y + 3, axis=(0, 1)), gnp.tanh(x) * y)
    graph = optimize(graphad.inspect(graphad.compile(f), x, y).traced)[0]
    check_group([("parallel", graph, [x, y])], 1e-12, {"parallel_work": 0})
    assert "prange" in generate(prepare(graph), Options(parallel_work=0)).source


def test_integer_and_bool_arrays():
    i = np.arange(-6, 6).reshape(3, 4)
    b = i % 3 == 0

    def f(i, b):
        j = i * 3 - 7
        return (j, gnp.where(b, j, -j), gnp.sum(j, axis=1), gnp.max(i, axis=0), gnp.any(b),
                gnp.all(b, axis=1), i > 2, i @ i.T, gnp.argmin(j, axis=1))
    graph = optimize(graphad.inspect(graphad.compile(f), i, b).traced)[0]
    check_group([("ints", graph, [i, b])], 0)


def test_cond_while_and_while_vjp_compile_natively():
    def f(x):
        y = gnp.sin(x) * 2
        z = graphad.cond(gnp.sum(y) > 0, lambda a: gnp.exp(a), lambda a: -a, y)
        return graphad.while_loop(lambda c: c[1] < 4, lambda c: (c[0] * 0.5 + z, c[1] + 1),
                                  (z, 0))[0]
    for x in (np.linspace(-1, 2, 5), -np.linspace(-1, 2, 5)):
        stages = graphad.inspect(graphad.compile(f, backend="numba"), x)
        src = generate(stages.fused).source
        assert "if v_" in src and "while True:" in src
        check_group([("control", stages.optimized, [x])], 1e-12)
    x = np.linspace(-1, 2, 5)
    g = graphad.compile(graphad.grad(lambda x: gnp.sum(f(x))), backend="numba")(x)
    np.testing.assert_allclose(g, graphad.grad(lambda x: gnp.sum(f(x)))(x), rtol=1e-12)


def test_a_kernel_numba_rejects_falls_back_to_numpy_with_a_warning(caplog):
    from graphad.backends.numba.executable import NumbaExecutable
    x = np.linspace(0, 1, 4)
    traced = graphad.inspect(graphad.compile(lambda x: gnp.exp(x) * 2), x).traced
    graph = prepare(optimize(traced)[0])
    kernel = generate(graph)
    broken = kernel.source.replace("def kernel(v_a):", "def kernel(v_a):\n    {1, 'a'}.pop()")
    assert broken != kernel.source
    kernel.source = broken
    with caplog.at_level("WARNING", logger="graphad"):
        exe = NumbaExecutable(graph, kernel)
        np.testing.assert_allclose(exe.run(x)[0], np.exp(x) * 2)
    assert exe.fallback.startswith("TypingError") and "evaluating this graph" in caplog.text
    with pytest.raises(Exception):
        NumbaExecutable(graph, kernel, strict=True).run(x)


def test_generated_source_is_readable_and_fused():
    x = np.linspace(0, 1, 1000)
    traced = graphad.inspect(graphad.compile(lambda x: gnp.sum(x * x)), x).traced
    graph = prepare(optimize(traced)[0])
    src = generate(graph).source
    assert "# b:f64[] = fused a" in src and "= mul" in src and "reduce_sum" in src
    assert "empty_array(" not in src            # sum(x*x) reads x once and writes only the sum
    assert src.count("for ") == 1


def test_float32_stays_float32_through_compile_and_grad():
    x = np.linspace(-1, 1, 9, dtype=np.float32)
    f = graphad.compile(lambda x: gnp.tanh(x) * 2.0 + 1, backend="numba")
    assert f(x).dtype == np.float32
    g = graphad.compile(graphad.grad(lambda x: gnp.sum(gnp.exp(x) / 3)), backend="numba")(x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g, np.exp(x) / 3, rtol=1e-6)
    s = graphad.compile(lambda x: gnp.sum(x), backend="numba")(x)
    assert type(s) is np.float32


def test_compiled_gradient_matches_central_differences():
    rng = np.random.default_rng(3)
    w, x = rng.standard_normal((3, 2)), rng.standard_normal((5, 3))

    def loss(w, x):
        return gnp.mean(gnp.logsumexp(gnp.tanh(x @ w), axis=1) + gnp.sin(w).sum())
    g = graphad.compile(graphad.grad(loss), backend="numba")(w, x)
    eps, num = 1e-6, np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        d = np.zeros_like(w)
        d[idx] = eps
        num[idx] = (graphad.compile(loss, backend="numpy")(w + d, x)
                    - graphad.compile(loss, backend="numpy")(w - d, x)) / (2 * eps)
    np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-9)


def test_pytrees_scalars_and_repeated_outputs():
    f = graphad.compile(lambda p: {"s": p["a"] * p["b"], "t": (p["a"], p["a"] + 0.0)},
                        backend="numba")
    out = f({"a": 2.0, "b": np.float64(3.0)})
    assert out["s"] == 6.0 and type(out["s"]) is np.float64
    assert out["t"] == (2.0, 2.0)
    out = f({"a": 2.0, "b": 4.0})              # the guard's path: same signature
    assert out["s"] == 8.0


@pytest.mark.skipif(graphs is None, reason="tests/random_graphs.py not present")
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(graphs(max_steps=8), min_size=6, max_size=6),
       st.lists(adjoint_graphs(max_steps=6), min_size=4, max_size=4) if adjoint_graphs else None)
def test_random_graphs_compile_and_agree(forward, adjoint):
    items = [(f"graph{i}", optimize(g)[0], args) for i, (g, args) in enumerate(forward + adjoint)]
    check_group(items, 1e-12)

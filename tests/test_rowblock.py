"""Row blocking (passes/rowblock.py, backends/numba/rowblock.py): X @ w, a row-wise region
and X.T @ d on the same X become one node, lowered as one pass over blocks of X's rows."""
from __future__ import annotations

import os

import numba
import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.backends.numba import compile_graph
from graphad.backends.numba import rowblock as lowering
from graphad.backends.numba.codegen import Options, generate
from graphad.backends.numpy import evaluate
from graphad.passes import rowblock as rb
from graphad.passes.rowblock import row_block, rowblock_p
from graphad.tree import tree_leaves


pytestmark = pytest.mark.usefixtures("shared_cache_dir")


@pytest.fixture(scope="module", autouse=True)
def any_size_joins():
    """The tests use small matrices; the pass joins only large ones by default."""
    old, rb.MIN_BYTES = rb.MIN_BYTES, 0
    yield
    rb.MIN_BYTES = old


def softplus(z):
    return gnp.maximum(z, 0.0) + gnp.log1p(gnp.exp(-gnp.abs(z)))


def logreg(params, X, y):             # W6's loss
    w, b = params
    z = X @ w + b
    return gnp.mean(softplus(z) - y * z)


def logreg2(W, X, Y):                 # two outputs per row: w [D, 2]
    z = X @ W
    return gnp.mean(softplus(z) - Y * z)


def data(n, d, k=None, dtype=np.float64, seed=0):
    r = np.random.default_rng(seed)
    X = r.standard_normal((n, d)).astype(dtype)
    shape = (n,) if k is None else (n, k)
    y = (r.random(shape) > 0.5).astype(dtype)
    w = (0.3 * r.standard_normal((d,) if k is None else (d, k))).astype(dtype)
    return w, X, y


def stages(fun, *args):
    return graphad.inspect(fun, *args)


def prims(graph):
    return [n.prim.name for n in graph.nodes]


def run(fused, args, **options):
    """The compiled kernel of an already fused graph, on the args' leaves."""
    return compile_graph(fused, strict=True, **options)(tree_leaves(args))


# ---- the pass --------------------------------------------------------------------------

def test_w6_gradient_becomes_one_rowblock_node():
    w, X, y = data(300, 7)
    fused = stages(graphad.grad(logreg), (w, np.float64(0.1)), X, y).fused
    (node,) = fused.nodes
    assert node.prim is rowblock_p
    body = node.attrs["body"]
    assert prims(body) == ["dot_general", "fused", "dot_general"]
    text = str(fused).splitlines()
    assert text[1] == "  e:f64[] f:f64[7] = rowblock c a b d"
    assert text[3] == "      k:f64[300] = dot_general g h  batch=((), ()) contract=((1,), (0,))"
    assert text[-3] == "      bl:f64[7] = dot_general g l  batch=((), ()) contract=((0,), (0,))"
    assert text[-2] == "      return m, bl }"


def test_two_outputs_per_row_fuse():
    W, X, Y = data(300, 7, k=2)
    fused = stages(graphad.grad(logreg2), W, X, Y).fused
    (node,) = fused.nodes
    assert node.prim is rowblock_p
    assert [str(v.type) for v in node.outputs] == ["f64[7,2]"]


def test_a_value_read_elsewhere_comes_out_in_full():
    w, X, y = data(300, 7)

    def fun(w, X, y):
        return X @ w, graphad.grad(lambda w: gnp.mean(softplus(X @ w) - y * (X @ w)))(w)
    s = stages(fun, w, X, y)
    (node,) = [n for n in s.fused.nodes if n.prim is rowblock_p]
    assert "f64[300]" in [str(v.type) for v in node.outputs]        # X @ w itself
    got = run(s.fused, (w, X, y))
    want = evaluate(s.optimized, [w, X, y])
    np.testing.assert_allclose(got[0], X @ w, rtol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)


def test_region_input_computed_from_a_does_not_fuse():
    w, X, y = data(300, 7)

    def fun(w, X, y):                     # sort(z) feeds the region that reads z
        z = X @ w
        return gnp.sum(gnp.sort(z) * z * y)
    s = stages(graphad.grad(fun), w, X, y)
    assert "rowblock" not in prims(s.fused)
    assert prims(row_block(s.fused)) == prims(s.fused)


def test_only_products_with_the_same_matrix_join():
    w, X, y = data(300, 7)
    X2 = X[::-1] + 1.0

    def fun(w, X, X2, y):                 # X2 @ w is a row input; X2.T @ d stays outside
        z = X @ w + X2 @ w
        return gnp.mean(softplus(z) - y * z)
    s = stages(graphad.grad(fun), w, X, X2, y)
    (node,) = [n for n in s.fused.nodes if n.prim is rowblock_p]
    body = node.attrs["body"]
    x = body.inputs[0]
    assert node.inputs[0] is s.fused.inputs[1]                      # X, not X2
    assert [n.inputs[0] is x for n in body.nodes if n.prim.name == "dot_general"] == [True] * 2
    assert sorted(prims(s.fused)) == ["dot_general", "dot_general", "fused", "rowblock"]
    args = [w, X, X2, y]
    np.testing.assert_allclose(evaluate(s.fused, args)[0], evaluate(s.optimized, args)[0],
                               rtol=1e-13)


def test_numpy_oracle_evaluates_the_node():
    w, X, y = data(300, 7)
    args = ((w, np.float64(0.1)), X, y)
    s = stages(graphad.grad(logreg), *args)
    for got, want in zip(evaluate(s.fused, tree_leaves(args)),
                         evaluate(s.optimized, tree_leaves(args))):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_renders_as_a_cluster():
    w, X, y = data(300, 7)
    dot = stages(graphad.grad(logreg), (w, np.float64(0.1)), X, y).fused.to_dot().source
    assert "rowblock" in dot and "subgraph cluster_" in dot


# ---- the Numba lowering ------------------------------------------------------------------

@pytest.fixture
def small_blocks(monkeypatch):
    """Blocks of 100 rows of 5 float64, so a thousand rows make several chunks and blocks."""
    monkeypatch.setattr(lowering, "BLOCK_BYTES", 100 * 5 * 8)


def test_blocks_chunks_and_thread_count(small_blocks):
    w, X, y = data(1037, 5)          # 4 chunks of 259-260 rows: blocks of 100, 100 and 59-60
    args = ((w, np.float64(0.1)), X, y)
    s = stages(graphad.grad(logreg), *args)
    source = generate(s.fused, Options(parallel_work=1)).source
    assert "for rb0_c in prange(4):" in source
    assert "for rb0_r0 in range(rb0_c * 1037 // 4, rb0_hi, 100):" in source
    exe = compile_graph(s.fused, strict=True, parallel_work=1)
    want = evaluate(s.optimized, tree_leaves(args))
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = exe(tree_leaves(args))
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = exe(tree_leaves(args))
    finally:
        numba.set_num_threads(old)
    for a, b, c in zip(one, two, want):
        assert np.array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=1e-12)
    # the closed form of the logistic-regression gradient
    z = X @ w + 0.1
    d = (1 / (1 + np.exp(-z)) - y) / y.size
    np.testing.assert_allclose(one[0], X.T @ d, rtol=1e-12)
    np.testing.assert_allclose(one[1], d.sum(), rtol=1e-12)


def test_block_products_are_loops_in_the_kernel(small_blocks):
    """X[block] @ w and X[block].T @ d: loops over the block's rows, no BLAS call per block;
    the accumulation takes UPDATE_ROWS (8) rows at a time and the rest one at a time
    (blocks of 100 and 59-60 rows: 4 and 3-4 left over; the values are checked in
    test_blocks_chunks_and_thread_count)."""
    w, X, y = data(1037, 5)
    s = stages(graphad.grad(logreg), (w, np.float64(0.1)), X, y)
    source = generate(s.fused, Options(parallel_work=1)).source
    assert "dot2" not in source
    lines = [line.strip() for line in source.splitlines()]
    assert "rb0_s = radd(rb0_s, rb0_x[rb0_i, rb0_j] * rb0_wq[rb0_j])" in lines
    assert "rb0_b0[rb0_i] = rb0_s" in lines
    assert f"while rb0_i + {lowering.UPDATE_ROWS} <= rb0_m:" in lines
    assert "rb0_gq[rb0_j] += rb0_v0 * rb0_x[rb0_i, rb0_j]" in lines
    assert lowering._tree(["a", "b", "c", "d", "e"]) == "((a + b) + (c + (d + e)))"


def test_two_outputs_per_row_compiled(small_blocks):
    W, X, Y = data(1037, 5, k=2)
    s = stages(graphad.grad(logreg2), W, X, Y)
    (got,) = run(s.fused, (W, X, Y), parallel_work=1)
    Z = X @ W
    np.testing.assert_allclose(got, X.T @ ((1 / (1 + np.exp(-Z)) - Y) / Y.size), rtol=1e-12)


def test_one_column_matrix_w_and_a_strided_w(small_blocks):
    # w [D, 1] makes z and d [N, 1] (2-D buffers with one column); a strided w is reshaped
    # only after it is made contiguous (both failed to type once)
    W, X, Y = data(1037, 5, k=1)
    (got,) = run(stages(graphad.grad(logreg2), W, X, Y).fused, (W, X, Y), parallel_work=1)
    Z = X @ W
    np.testing.assert_allclose(got, X.T @ ((1 / (1 + np.exp(-Z)) - Y) / Y.size), rtol=1e-12)
    w, X, y = data(1037, 5)
    strided = np.repeat(w, 2)[::2]
    assert not strided.flags.c_contiguous and np.array_equal(strided, w)
    args = ((strided, np.float64(0.1)), X, y)
    got = run(stages(graphad.grad(logreg), *args).fused, args, parallel_work=1)
    d = (1 / (1 + np.exp(-(X @ w + 0.1))) - y) / y.size
    np.testing.assert_allclose(got[0], X.T @ d, rtol=1e-12)


def test_float32_sums_block_by_block():
    # each block's X.T @ d goes into the chunk's sum: one float32 accumulator over a whole
    # chunk of 50,000 rows was 4-7x less accurate
    w, X, y = data(200_000, 16, dtype=np.float32, seed=5)
    gw, _ = graphad.compile(graphad.grad(logreg))((w, np.float32(0.1)), X, y)
    X64 = X.astype(np.float64)
    d = (1 / (1 + np.exp(-(X64 @ w.astype(np.float64) + 0.1))) - y) / y.size
    want = X64.T @ d
    assert gw.dtype == np.float32
    assert np.abs(gw - want).max() / np.abs(want).max() < 4e-7


def test_fewer_rows_than_one_block_and_float32():
    w, X, y = data(300, 7, dtype=np.float32)
    args = ((w, np.float32(0.1)), X, y)
    s = stages(graphad.grad(logreg), *args)
    assert prims(s.fused) == ["rowblock"]
    got = run(s.fused, args)
    want = evaluate(s.optimized, tree_leaves(args))
    for a, b in zip(got, want):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-7)


def test_compiled_gradient_is_the_closed_form():
    w, X, y = data(5000, 11, seed=3)
    gw, gb = graphad.compile(graphad.grad(logreg))((w, 0.2), X, y)
    d = (1 / (1 + np.exp(-(X @ w + 0.2))) - y) / y.size
    np.testing.assert_allclose(gw, X.T @ d, rtol=1e-12)
    np.testing.assert_allclose(gb, d.sum(), rtol=1e-12)


def test_a_small_matrix_does_not_join(monkeypatch):
    monkeypatch.setattr(rb, "MIN_BYTES", 8 << 20)
    w, X, y = data(1000, 50)                              # 400 KB: stays in cache
    assert "rowblock" not in prims(stages(graphad.grad(logreg), (w, 0.1), X, y).fused)
    w, X, y = data(21000, 50)                             # 8.4 MB
    assert "rowblock" in prims(stages(graphad.grad(logreg), (w, 0.1), X, y).fused)

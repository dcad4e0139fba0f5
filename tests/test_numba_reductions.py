"""Reductions in generated loops (reducers.py, folds.py) against the numpy oracle.

Sums add through a reassociable `radd`, max and min through LLVM's NaN-propagating
maximum/minimum, and a log-sum-exp over at least reducers.MIN_BLOCKED elements
is folded a buffer of reducers.BLOCK at a time: each rewrite must keep numpy's
special values (inf, -inf, nan, ties) exactly. A few kernels, each compiled once.
"""
from __future__ import annotations

import math
import os
import platform
import re

import numba
import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.backends.numba import compile_graph, fusible, prepare
from graphad.backends.numba.codegen import Options, generate
from graphad.backends.numba.reducers import BLOCK, MIN_BLOCKED
from graphad.backends.numpy import evaluate
from graphad.passes.fusion import fuse
from graphad.passes.pipeline import optimize
from graphad.passes.split_logsumexp import split_logsumexp

N = 1000                                # a long row: two blocks, the second partial
assert MIN_BLOCKED <= N and BLOCK < N < 2 * BLOCK


@pytest.fixture(scope="module", autouse=True)
def cache_dir(tmp_path_factory):
    old = os.environ.get("GRAPHAD_CACHE_DIR")
    os.environ["GRAPHAD_CACHE_DIR"] = str(tmp_path_factory.getbasetemp() / "graphad-cache")
    yield
    if old is None:
        del os.environ["GRAPHAD_CACHE_DIR"]
    else:
        os.environ["GRAPHAD_CACHE_DIR"] = old


def special_rows(n):
    """Rows whose reductions hit every special case, with what logsumexp, max and min
    of each must be (None: finite, checked against the oracle only)."""
    rng = np.random.default_rng(0)
    rows, want = [], []

    def row(values, lse, mx, mn):
        rows.append(values)
        want.append((lse, mx, mn))
    x = rng.standard_normal(n)
    row(x.copy(), None, None, None)
    r = x.copy(); r[n - 3] = np.inf                                # +inf in the last block
    row(r, np.inf, np.inf, None)
    r = x.copy(); r[BLOCK + 7] = np.nan                            # nan in the partial block
    row(r, np.nan, np.nan, np.nan)
    r = x.copy(); r[3] = np.nan; r[n - 1] = np.inf                 # nan before +inf
    row(r, np.nan, np.nan, np.nan)
    row(np.full(n, -np.inf), -np.inf, -np.inf, -np.inf)            # all -inf
    r = np.full(n, -np.inf); r[[5, BLOCK + 5]] = np.inf            # tied +inf among -inf
    row(r, np.inf, np.inf, -np.inf)
    r = x.copy(); r[:BLOCK + 10] = -np.inf                         # a block of -inf first
    row(r, None, None, -np.inf)
    r = np.full(n, 2.0); r[::3] = -1.5                            # ties at the maximum
    row(r, 2.0 + math.log(n - len(r[::3]) + len(r[::3]) * math.exp(-3.5)), 2.0, -1.5)
    r = x.copy(); r[n - 5] = 1e300                                 # the maximum, late
    row(r, 1e300, 1e300, None)
    return np.array(rows), want


def reductions(x, short):
    return (gnp.logsumexp(x, axis=1), gnp.max(x, axis=1), gnp.min(x, axis=1),
            gnp.sum(x, axis=1), gnp.logsumexp(x[:, :-1]), gnp.sum(x * 0.5),
            gnp.logsumexp(short, axis=1), gnp.max(short, axis=0), gnp.mean(short, axis=1))


def compiled(fun, args, split=False, **options):
    """The kernel of `fun`: fused without the backend's two-pass logsumexp
    (passes/split_logsumexp.py) unless `split`, so the one-pass blocked fold that loop
    bodies keep is what these tests exercise."""
    graph = optimize(graphad.inspect(graphad.compile(fun), *args).traced)[0]
    fused = prepare(graph) if split else fuse(graph, fusible)
    return compile_graph(fused, strict=True, **options), generate(fused, Options(**options)), graph


def assert_same(got, want, tol, what):
    """Equal non-finite values (nan where nan, same infinities), finite ones within tol."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    inf = np.isinf(want)
    np.testing.assert_array_equal(got[inf], want[inf], err_msg=what)
    np.testing.assert_allclose(got[np.isfinite(want)], want[np.isfinite(want)], rtol=tol,
                               atol=0, err_msg=what)


@pytest.fixture(scope="module")
def specials():
    x, want = special_rows(N)
    short = x[:, ::40].copy()             # 25 per row: the per-element log-sum-exp update
    short[4, 3] = np.nan
    return [x, short], want


@pytest.mark.parametrize("parallel_work, split", [(None, False), (0, False), (0, True)],
                         ids=["serial", "parallel", "parallel-two-pass"])
def test_special_values_match_numpy(specials, parallel_work, split):
    args, want = specials
    options = {} if parallel_work is None else {"parallel_work": parallel_work}
    exe, kernel, graph = compiled(reductions, args, split, **options)
    # the long rows and the full reduction are blocked, the short rows are not; split,
    # every logsumexp is a max loop and an exp-sum loop
    assert kernel.source.count("= lse_block(") == (0 if split else 2 * 2)
    assert ("in prange(" in kernel.source) == (parallel_work == 0)
    got = exe(args)
    names = ["lse", "max", "min", "sum", "lse all", "sum all", "lse short", "max short",
             "mean short"]
    for name, g, w in zip(names, got, evaluate(graph, args)):
        assert_same(g, w, 1e-13, name)
    lse, mx, mn = got[:3]
    for r, closed in enumerate(want):                   # and against the closed forms
        for name, value, expect in zip(names, (lse[r], mx[r], mn[r]), closed):
            if expect is not None:
                assert_same(value, np.float64(expect), 1e-14, f"{name} of row {r}")
    assert np.isnan(got[4])                             # a nan anywhere wins


def test_logsumexp_gradient_reuses_the_exp_sum_terms(specials):
    # grad of logsumexp is exp(x - logsumexp(x)); split, it is the exp-sum loop's terms
    # over their sum: one exp an element, and the same nan and 0 as the oracle gives for
    # rows with +inf, nan, all -inf, or a 1e300 maximum
    (x, _), _ = specials
    weights = np.linspace(0.5, 2.0, len(x))

    def f(x):
        return gnp.sum(gnp.logsumexp(x, axis=1) * weights) + gnp.logsumexp(x[0] ** 2)
    graph = graphad.inspect(graphad.grad(f), x).optimized
    exe, kernel = compile_graph(prepare(graph), strict=True), generate(prepare(graph))
    # the gradient's two exps are gone, the two left are the exp-sum loops' own
    exps = [sum(n.prim.name == "exp" for n in g.nodes) for g in (graph, split_logsumexp(graph))]
    assert exps == [2, 2] and kernel.source.count("exp_f64(") == 2
    want = evaluate(graph, [x])[0]
    assert_same(evaluate(split_logsumexp(graph), [x])[0], want, 1e-13, "split, numpy")
    assert_same(exe([x])[0], want, 1e-13, "split, numba")
    assert np.isnan(want[2]).all() and np.isnan(want[4]).all()      # nan row, all -inf row
    assert (want[1] == 0).sum() == N - 1 and np.isnan(want[1, N - 3])   # +inf row


@pytest.mark.parametrize("subtract, rewritten", [
    (lambda x: gnp.logsumexp(x, axis=1, keepdims=True), True),
    (lambda x: gnp.logsumexp(x, axis=0), True),                 # broadcasts along axis 0
    (lambda x: gnp.logsumexp(x), True),
    (lambda x: gnp.logsumexp(x, axis=1), False),                # L[j] from column j
    (lambda x: gnp.reshape(gnp.logsumexp(x, axis=1), (1, 3)), False),
], ids=["keepdims", "axis0", "all", "axis1-misaligned", "reshaped-misaligned"])
def test_softmax_rewrite_only_where_logsumexp_broadcasts_back_along_its_axes(subtract,
                                                                               rewritten):
    x = np.random.default_rng(1).standard_normal((3, 3))
    c = np.arange(9.0).reshape(3, 3)
    graph = graphad.inspect(lambda x: gnp.sum(c * gnp.exp(x - subtract(x))), x).optimized
    split = split_logsumexp(graph)
    assert sum(n.prim.name == "exp" for n in split.nodes) == (1 if rewritten else 2)
    np.testing.assert_allclose(evaluate(split, [x])[0], evaluate(graph, [x])[0], rtol=1e-14)


def test_blocked_logsumexp_edge_lengths_and_float32():
    # the per-element update just below MIN_BLOCKED, exactly one block, one past it;
    # float32 accumulates in float64 and rounds once
    rng = np.random.default_rng(1)
    lengths = (MIN_BLOCKED - 1, BLOCK, BLOCK + 1)
    xs = [rng.standard_normal((2, n)) * 30 for n in lengths]
    xs[1][1, -1] = -np.inf
    xs[2][1, -1] = np.inf                               # alone in the last (1-element) block
    x32 = (rng.standard_normal(100_000) * 3).astype(np.float32)

    def f(a, b, c, x32):
        return (gnp.logsumexp(a, axis=1), gnp.logsumexp(b, axis=1), gnp.logsumexp(c, axis=1),
                gnp.sum(x32), gnp.logsumexp(x32), gnp.max(x32), gnp.min(x32 * 2))
    args = xs + [x32]
    exe, kernel, graph = compiled(f, args)
    assert kernel.source.count("= lse_block(") == 2 * 3
    got = exe(args)
    for g, w, what in zip(got, evaluate(graph, args), "abcdefg"):
        assert_same(g, w, 1e-5 if np.asarray(w).dtype == np.float32 else 1e-13, what)
    assert got[2][1] == np.inf
    exact = math.fsum(x32.astype(np.float64))
    assert got[3].dtype == np.float32 and got[3] == np.float32(exact)   # rounded once
    assert got[5] == x32.max() and got[6] == (x32 * 2).min()


def test_fastmath_false_keeps_the_per_element_logsumexp():
    x = np.random.default_rng(2).standard_normal(4 * BLOCK)
    graph = fuse(optimize(graphad.inspect(graphad.compile(gnp.logsumexp), x).traced)[0], fusible)
    assert "lse_block" in generate(graph).source
    libm = generate(graph, Options(libm=True)).source
    assert "lse_block" not in libm and "math.exp(" in libm


def test_results_do_not_depend_on_the_thread_count():
    rows, _ = special_rows(N)
    x = np.tile(rows[[0, 6, 7]].ravel(), 4)             # finite and -inf values, no nan
    assert len(x) // 16 >= MIN_BLOCKED                  # blocked within each chunk
    exe, kernel, _ = compiled(lambda x: (gnp.sum(gnp.exp(x)), gnp.logsumexp(x), gnp.max(x),
                                         gnp.sum(x * x)), [x], parallel_work=0)
    assert "for c0 in prange(16):" in kernel.source
    old = numba.get_num_threads()
    try:
        runs = []
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            runs.append([np.asarray(v) for v in exe([x])])
    finally:
        numba.set_num_threads(old)
    for a, b in zip(runs[0], runs[-1]):
        np.testing.assert_array_equal(a, b)             # bit for bit


def test_integer_and_bool_extrema():
    i8 = np.array([[3, -128, 127, 0], [-5, -7, -6, -128]], np.int8)
    u16 = np.array([[0, 65535, 7, 9], [65535, 65535, 1, 2]], np.uint16)
    b = np.array([[False, True, False, False], [False, False, False, False]])

    def f(i8, u16, b):
        return (gnp.max(i8, axis=1), gnp.min(i8, axis=1), gnp.max(u16, axis=1),
                gnp.min(u16, axis=1), gnp.any(b, axis=1), gnp.all(b, axis=1), gnp.sum(u16))
    exe, _, graph = compiled(f, [i8, u16, b])
    for g, w in zip(exe([i8, u16, b]), evaluate(graph, [i8, u16, b])):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_array_equal(g, w)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 assembly")
def test_sum_and_max_loops_are_vectorized():
    # packed (…pd) adds and maxes in the kernel: the loops run on SIMD lanes
    x = np.linspace(-1, 1, 4096)
    exe, kernel, _ = compiled(lambda x: (gnp.sum(gnp.exp(x)), gnp.max(x * 3)), [x],
                              parallel_work=1 << 40)
    assert "radd(" in kernel.source and "fmax(" in kernel.source
    exe([x])
    asm = "\n".join(exe.dispatcher.inspect_asm().values())
    assert re.search(r"\bv?addpd\b", asm) and re.search(r"\bv?maxpd\b", asm)

"""Workspace buffers of the Numba backend (issue #9): large intermediates are allocated
once per thread and reused across calls, never returned, never shared between threads."""
import threading

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.backends.numba import compile_graph
from graphad.backends.numba.codegen import Options, generate

ROWS = 4000          # (ROWS, 8) float64 = 256 KiB: above the workspace threshold


def mlp(params, x):
    W1, W2 = params
    h = gnp.tanh(x @ W1)
    return gnp.mean(gnp.tanh(h @ W2) ** 2)


def mlp_grad(params, x):
    W1, W2 = params
    h = np.tanh(x @ W1)
    o = np.tanh(h @ W2)
    d_o = 2 * o * (1 - o * o) / o.size
    d_h = (d_o @ W2.T) * (1 - h * h)
    return x.T @ d_h, h.T @ d_o


def data(seed):
    r = np.random.default_rng(seed)
    return (r.standard_normal((8, 8)) / 3, r.standard_normal((8, 8)) / 3), \
        r.standard_normal((ROWS, 8))


@pytest.fixture(scope="module")
def mlp_compiled():
    return graphad.compile(graphad.grad(mlp), backend="numba")


def _executable(f, *args):
    return graphad.inspect(f, *args).executable("numba")


def test_intermediates_become_workspace_parameters(mlp_compiled):
    params, x = data(0)
    exe = _executable(mlp_compiled, params, x)
    src = exe.source
    # the four (ROWS, 8) intermediates and the two products are workspace; the gradients
    # (8, 8) are returned and stay fresh
    assert "def kernel(v_a, v_b, v_c, v_d_buf, v_e, v_f, v_l_buf, v_m, v_v_buf, v_x):" in src
    assert "    # workspace, allocated once per thread and reused: v_d_buf, v_e, v_f, v_l_buf, " \
           "v_m, v_v_buf,\n    # v_x\n" in src
    assert "v_d = dot2_into(v_c, v_a, v_d_buf)" in src
    assert [(s, d.name) for s, d in exe.workspace] == \
        [((ROWS, 8), "float64")] * 7
    assert exe.entry_point([*params, x]) is None
    # without workspace the same graph allocates each of them per call (and the source,
    # the disk cache's key, differs)
    plain = generate(graphad.inspect(mlp_compiled, params, x).fused, Options(workspace_bytes=None))
    assert "# workspace" not in plain.source and not plain.workspace
    assert plain.source.count("empty_array(") == src.count("empty_array(") + 4


def test_repeated_calls_agree_and_do_not_mutate_earlier_results(mlp_compiled):
    params, x = data(1)
    first = mlp_compiled(params, x)
    held = [g.copy() for g in first]
    np.testing.assert_allclose(first[0], mlp_grad(params, x)[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(first[1], mlp_grad(params, x)[1], rtol=1e-12, atol=1e-15)
    again = mlp_compiled(params, x)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    params2, x2 = data(2)
    other = mlp_compiled(params2, x2)
    assert not np.allclose(other[0], held[0])
    assert all(np.array_equal(a, b) for a, b in zip(first, held))    # call 1's results intact
    assert all(a is not b for a, b in zip(first, again))


def test_threads_calling_at_once_get_their_own_workspace(mlp_compiled):
    cases = [data(10 + i) for i in range(2)]
    expected = [mlp_grad(p, x) for p, x in cases]
    mlp_compiled(*cases[0])                          # compiled before the threads start
    start, errors = threading.Barrier(len(cases)), []

    def work(i):
        start.wait()
        for _ in range(30):
            got = mlp_compiled(*cases[i])
            if not all(np.allclose(g, e, rtol=1e-12, atol=1e-15)
                       for g, e in zip(got, expected[i])):
                errors.append(i)
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_an_output_also_used_inside_is_fresh():
    def f(x, w):
        y = gnp.exp(x * w)                           # returned, and read by the sum
        return y, gnp.sum(gnp.tanh(y) * x)

    compiled = graphad.compile(f, backend="numba")
    w = 0.1
    x = np.linspace(-1, 1, 20000)
    exe = _executable(compiled, x, w)
    assert "# workspace" not in exe.source and not exe.workspace
    y1, s1 = compiled(x, w)
    y1_held = y1.copy()
    y2, _ = compiled(2 * x, w)
    assert y2 is not y1 and np.array_equal(y1, y1_held)
    np.testing.assert_allclose(y1, np.exp(x * w), rtol=1e-14)
    np.testing.assert_allclose(s1, np.sum(np.tanh(np.exp(x * w)) * x), rtol=1e-12)


def test_broadcast_and_reductions_restart_each_call():
    # sum over the outer axis keeps one state per column in a (cols,) array: a workspace
    # that must start from zero on every call; the softmax-like row normalization
    # broadcasts a reduction back over the matrix.
    def f(a, b):
        m = a[:, None] * b[None, :]                  # (rows, cols) from two vectors
        p = gnp.exp(m - gnp.max(m, axis=1, keepdims=True))
        return gnp.sum(p / gnp.sum(p, axis=1, keepdims=True), axis=0), gnp.sum(m * m, axis=0)

    def oracle(a, b):
        m = a[:, None] * b[None, :]
        p = np.exp(m - m.max(axis=1, keepdims=True))
        return (p / p.sum(axis=1, keepdims=True)).sum(axis=0), (m * m).sum(axis=0)

    r = np.random.default_rng(3)
    a, b = r.standard_normal(64), r.standard_normal(20000)
    exe = _executable(graphad.compile(f, backend="numba"), a, b)
    # m and the normalized p are materialized; the parallel sums over axis 0 keep 16 partial
    # states per column; all four are workspace, and the states are reset on every call
    assert "def kernel(v_a, v_b, v_e, v_g_s_a, v_o, v_w_s_a):" in exe.source
    assert "v_g_s_a[...] = 0.0" in exe.source and "v_w_s_a[...] = 0.0" in exe.source
    assert [s for s, _ in exe.workspace] == [(64, 20000), (16, 20000)] * 2
    for args in ((a, b), (a, b), (2 * a, b)):
        for got, want in zip(exe.run(*args), oracle(*args)):
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_parallel_kernel_with_workspace():
    params, x = data(4)
    graph = graphad.inspect(graphad.compile(graphad.grad(mlp)), params, x).fused
    exe = compile_graph(graph, strict=True, parallel_work=0)
    assert exe.parallel and "prange" in exe.source and len(exe.workspace) == 7
    want = mlp_grad(params, x)
    for _ in range(2):
        for got, w in zip(exe.run(*params, x), want):
            np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-15)


def test_logistic_chain_gradient_matches_the_numpy_oracle():
    # W4's chain, rescaled halfway by its maximum: the reduction makes the first half's
    # values an intermediate array (W4 itself fuses into one loop and has none)
    def chain(x):
        v = gnp.sigmoid(x)
        for _ in range(4):
            v = 4 * v * (1 - v)
        v = v * (0.5 / gnp.max(v))
        for _ in range(4):
            v = 4 * v * (1 - v)
        return gnp.sum(v)

    x = np.random.default_rng(5).standard_normal(20000)
    compiled = graphad.compile(graphad.grad(chain), backend="numba")
    assert _executable(compiled, x).workspace
    want = graphad.compile(graphad.grad(chain), backend="numpy")(x)
    for _ in range(2):        # 8 logistic layers amplify a rounding difference up to 4**8x
        np.testing.assert_allclose(compiled(x), want, rtol=1e-8, atol=1e-13)

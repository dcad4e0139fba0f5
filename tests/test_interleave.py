"""Interleaved loop iterations for long dependence chains (issue #9, interleave.py):
which regions ask for them, and that kernels compiled that way compute the same values."""
import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.backends.numba import interleave
from graphad.backends.numba.loops import COST
from graphad.trace import trace_function

N = interleave.MIN_ELEMENTS + 7      # not a multiple of the vector width times the count


def logistic(x, layers=6):
    v = gnp.sigmoid(x)
    for _ in range(layers):
        v = 4 * v * (1 - v)
    return gnp.sum(v)


def logistic_grad(x, layers=6):
    vs = [1 / (1 + np.exp(-x))]
    for _ in range(layers):
        vs.append(4 * vs[-1] * (1 - vs[-1]))
    g = vs[0] * (1 - vs[0])
    for v in vs[:-1]:
        g = g * (4 - 8 * v)
    return g


def test_critical_path_counts_the_longest_chain_in_cost_units():
    def body(x, y):
        a = gnp.exp(x)              # 2
        b = a * y                   # 3
        c = b - a                   # 4
        return c * c + y            # 6; y alone is depth 0
    graph = trace_function(body, (np.ones(3), np.ones(3))).graph
    assert interleave.critical_path(graph, COST) == 6
    assert interleave.critical_path(graph, {}) == 5          # exp counted as 1
    assert [interleave.count(d) for d in (0, interleave.DEEP - 1, interleave.DEEP,
                                          interleave.DEEPER - 1, interleave.DEEPER)] == \
        [1, 1, interleave.COUNT, interleave.COUNT, interleave.DEEPER_COUNT]


def _source(fun, *args):
    return graphad.inspect(graphad.grad(fun), *args).executable("numba").source


def test_deep_large_regions_ask_for_interleaving_and_shallow_or_small_ones_do_not():
    x = np.linspace(-3, 3, N)
    assert f"interleave={interleave.COUNT}" in _source(logistic, x)
    assert "interleave=1" in _source(lambda x: gnp.sum(x * x), x)             # shallow
    assert "interleave=1" in _source(logistic, x[:1000])                       # small


def test_interleaved_kernel_matches_the_closed_form_and_the_plain_kernel_bit_for_bit(
        monkeypatch):
    x = np.random.default_rng(3).standard_normal(N)
    f = graphad.compile(graphad.grad(logistic), backend="numba")
    g = f(x)
    assert graphad.inspect(f, x).executable("numba").interleave == interleave.COUNT
    # six layers of the chaotic map amplify rounding by up to 4**6
    np.testing.assert_allclose(g, logistic_grad(x), rtol=1e-9)
    # interleaving reorders whole iterations, never the arithmetic of one element
    monkeypatch.setattr(interleave, "DEEP", 10 ** 9)
    plain = graphad.compile(graphad.grad(logistic), backend="numba")
    assert graphad.inspect(plain, x).executable("numba").interleave == 1
    np.testing.assert_array_equal(plain(x), g)


def test_arrays_of_a_new_layout_compile_with_the_interleave_count_too(monkeypatch):
    # graphad's signature is shapes and dtypes; a strided view after a contiguous array
    # makes Numba compile again, which must happen inside forced() as the first call did
    calls, real = [], interleave.forced
    monkeypatch.setattr(interleave, "forced", lambda n: calls.append(n) or real(n))
    x = np.random.default_rng(4).standard_normal(2 * N)
    f = graphad.compile(graphad.grad(logistic), backend="numba")
    contiguous = f(x[::2].copy())
    strided = f(x[::2])
    again = f(x[::2])
    assert calls == [interleave.COUNT, interleave.COUNT]      # once per layout, not per call
    np.testing.assert_array_equal(strided, contiguous)
    np.testing.assert_array_equal(again, contiguous)
    exe = graphad.inspect(f, x[::2].copy()).executable("numba")
    assert len(exe.dispatcher.signatures) == 2


def test_forced_holds_numbas_compiler_lock_only_when_interleaving():
    from numba.core.compiler_lock import global_compiler_lock
    with interleave.forced(1):
        assert not global_compiler_lock.is_locked()
    with interleave.forced(4):
        assert global_compiler_lock.is_locked()
    assert not global_compiler_lock.is_locked()


if __name__ == "__main__":
    pytest.main([__file__])

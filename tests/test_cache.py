"""The compile cache: signatures in memory (guards, miss reasons) and kernels on disk
(checksums, atomic writes, reuse by a second process)."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad import cache
from graphad.api import _leaf_key
from graphad.tree import tree_flatten

SOURCE = '''
import numpy as np
from numba import njit


@njit(cache=True)
def kernel(x):
    return (x * 2.0 + 1.0,)
'''


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cache, "_MEMORY", {})
    return tmp_path


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHAD_CACHE_DIR", str(tmp_path / "here"))
    assert cache.cache_dir() == tmp_path / "here"
    monkeypatch.delenv("GRAPHAD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "graphad"


def test_kernel_file_has_a_checksum_and_is_reused_from_memory(cache_dir):
    k = cache.load_kernel(SOURCE + "\n# reuse\n")
    assert cache.load_kernel(SOURCE + "\n# reuse\n") is k
    (path,) = (cache_dir / "kernels").glob("graphad_*.py")
    assert cache._intact(path)
    first = path.read_text().splitlines()[0]
    assert first.startswith("# graphad kernel sha256=")
    assert "numba=" in path.read_text().splitlines()[1]
    np.testing.assert_array_equal(k(np.arange(3.0))[0], [1.0, 3.0, 5.0])


def test_truncated_kernel_file_is_detected_and_rebuilt(cache_dir, caplog):
    source = SOURCE + "\n# truncated\n"
    cache.load_kernel(source)
    (path,) = (cache_dir / "kernels").glob("graphad_*.py")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])           # a half-written file
    assert not cache._intact(path)
    cache._MEMORY.clear()
    with caplog.at_level(logging.WARNING, logger="graphad"):
        k = cache.load_kernel(source)
    assert "damaged" in caplog.text
    assert path.read_text() == text
    np.testing.assert_array_equal(k(np.ones(2))[0], [3.0, 3.0])


def test_atomic_write_leaves_no_temporary_files(cache_dir):
    target = cache_dir / "kernels" / "x.py"
    cache._write_atomic(target, "a = 1\n")
    cache._write_atomic(target, "a = 2\n")
    assert target.read_text() == "a = 2\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.py"]


def test_size_report_and_clear(cache_dir):
    cache.load_kernel(SOURCE + "\n# size\n")
    s = cache.size()
    assert s["kernels"] == 1 and s["bytes"] > 0 and s["path"] == str(cache_dir)
    assert "1 kernels" in cache.report()
    cache.clear()
    assert cache.size()["kernels"] == 0


# ---- a second process reuses Numba's machine code ------------------------------------

CHILD = textwrap.dedent('''
    import json, sys
    import numpy as np
    import graphad, graphad.numpy as gnp
    from graphad import cache
    f = graphad.compile(graphad.grad(lambda w, x: gnp.sum(gnp.tanh(x * w) ** 2)), backend="numba")
    g = f(np.float64(0.5), np.linspace(-1, 1, 7))
    print(json.dumps(dict(cache.stats(), grad=float(g))))
''')


def _child(env):
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_process_loads_machine_code_instead_of_compiling(tmp_path):
    env = dict(os.environ, GRAPHAD_CACHE_DIR=str(tmp_path))
    first = _child(env)
    second = _child(env)
    assert first["numba_compiles"] >= 1 and first["numba_cache_hits"] == 0
    assert second["numba_compiles"] == 0 and second["numba_cache_hits"] >= 1
    assert second["grad"] == first["grad"]
    # a damaged entry of Numba's own cache is dropped and compiled afresh
    for index in (tmp_path / "kernels" / "__pycache__").glob("*.nbi"):
        index.write_bytes(index.read_bytes()[:10])
    third = _child(env)
    assert third["grad"] == first["grad"] and third["numba_compiles"] >= 1


BLAS_CHILD = textwrap.dedent('''
    import json, sys
    import numpy as np
    from graphad import cache
    k = cache.load_kernel("""
    import numpy as np
    from numba import njit


    @njit(cache=True)
    def kernel(a, b):
        return (np.dot(a, b),)
    """)
    a = np.arange(6.0).reshape(2, 3)
    product = k(a, a.T)[0].tolist()
    before = "scipy.linalg" in sys.modules
    blas = sys.modules["scipy.linalg.cython_blas"]
    import scipy.linalg
    print(json.dumps({"product": product, "linalg_before": before,
                      "same_module": scipy.linalg.cython_blas is blas,
                      "hook_left": cache._LinalgHook in sys.meta_path,
                      "solve": scipy.linalg.solve(np.diag([2.0, 4.0]), np.ones(2)).tolist()}))
''')


def test_numba_finds_blas_without_importing_scipy_linalg(tmp_path):
    """The first kernel preloads cython_blas alone; scipy.linalg imported later is whole."""
    out = subprocess.run([sys.executable, "-c", BLAS_CHILD], capture_output=True, text=True,
                         env=dict(os.environ, GRAPHAD_CACHE_DIR=str(tmp_path)), timeout=300,
                         check=True)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["product"] == [[5.0, 14.0], [14.0, 50.0]]
    assert got["linalg_before"] is False
    assert got["same_module"] is True and got["hook_left"] is False
    assert got["solve"] == [0.5, 0.25]


def test_preload_leaves_an_imported_scipy_linalg_alone(monkeypatch):
    # scipy.linalg imported (here a stand-in) but cython_blas not yet: nothing is loaded
    import scipy.linalg
    monkeypatch.delitem(sys.modules, "scipy.linalg.cython_blas")
    monkeypatch.setitem(sys.modules, "scipy.linalg", scipy.linalg)
    meta_path = list(sys.meta_path)
    cache._preload_blas()
    assert sys.meta_path == meta_path and "scipy.linalg.cython_blas" not in sys.modules


# ---- signatures: guards and miss reasons -----------------------------------------------

def _key(*args):
    parts = []
    for a in args:
        leaves, tree = tree_flatten(a)
        parts.append((tree, tuple(map(_leaf_key, leaves))))
    return tuple(parts)


def test_explain_miss_names_the_argument_and_what_changed():
    params = {"w": np.ones((2, 3)), "b": np.ones(3)}
    old = _key(params, np.ones(5))
    assert cache.explain_miss(old, _key(dict(params, w=np.ones((4, 3))), np.ones(5))) == \
        "argument 0['w'] changed shape from float64[2, 3] to float64[4, 3]"
    assert cache.explain_miss(old, _key(params, np.ones(5, np.float32))) == \
        "argument 1 changed dtype from float64[5] to float32[5]"
    assert "argument 0 changed structure" in cache.explain_miss(old, _key({"w": 1.0}, np.ones(5)))
    assert cache.explain_miss(old, _key(params)) == "called with 1 arguments instead of 2"
    static = (("static", int, 3),)
    assert cache.explain_miss(static, (("static", int, 4),)) == \
        "static argument 0 changed from 3 to 4"


def test_guard_accepts_its_signature_only():
    key = _key({"a": np.ones(3), "b": 2.0})
    calls = []

    def run(a, b):
        calls.append((a, b))
        return (a.sum() * b, a)
    guard = cache.make_guard(key, run, (), [np.float64, None], [0, 1, 0],
                             tree_flatten((0, [0, 0]))[1])
    out = guard(({"a": np.ones(3), "b": 2.0},))
    assert out[0] == 6.0 and type(out[0]) is np.float64 and out[1][1] == 6.0
    assert guard(({"a": np.ones(3), "b": np.float64(2.0)},)) is not cache.MISS
    assert guard(({"a": np.ones(4), "b": 2.0},)) is cache.MISS             # shape
    assert guard(({"a": np.ones(3, np.float32), "b": 2.0},)) is cache.MISS  # dtype
    assert guard(({"a": np.ones(3), "c": 2.0},)) is cache.MISS              # keys
    assert guard(({"a": np.ones(3), "b": 2},)) is cache.MISS                # int, not float
    assert guard(({"a": np.ones(3)}, 1)) is cache.MISS                      # arity
    assert len(calls) == 2


def test_compiled_function_reports_why_it_missed(caplog):
    f = graphad.compile(lambda x, n: gnp.sum(x) * n, static_argnums=1, backend="numpy")
    f(np.ones(3), 2)
    f(np.ones(3), 2)
    f(np.ones(3), 2)
    with caplog.at_level(logging.INFO, logger="graphad"):
        f(np.ones(4), 2)
        f(np.ones(4), 3)
    info = f.cache_info()
    assert info["signatures"] == 3 and info["misses"] == 3
    assert info["miss_reasons"] == [
        "first call", "argument 0 changed shape from float64[3] to float64[4]",
        "static argument 1 changed from 2 to 3"]
    assert "argument 0 changed shape" in caplog.text and "static argument 1" in caplog.text


def test_guard_path_falls_back_for_other_signatures_and_tracers():
    f = graphad.compile(lambda x: gnp.sum(x * x), backend="numpy")
    assert f(np.ones(3)) == 3.0
    assert f(np.ones(2)) == 2.0
    assert f(np.ones(3)) == 3.0                                  # back to the first signature
    assert f.cache_info()["signatures"] == 2
    np.testing.assert_allclose(graphad.grad(f)(np.arange(3.0)), [0.0, 2.0, 4.0])
    with pytest.raises(graphad.GraphadError, match="positionally"):
        f(x=np.ones(3))


def test_threads_first_calling_one_kernel_both_get_it():
    # the second thread must not take the kernel's module from sys.modules while the first
    # is still running it (AttributeError: no attribute 'kernel')
    import threading
    for c in (1.25, 2.5, 3.75, 5.0):            # kernels not loaded yet in this process
        f = graphad.compile(lambda x, c=c: gnp.sum(gnp.exp(x) * c))
        x = np.linspace(0.0, 1.0, 7)
        barrier, results, errors = threading.Barrier(2), [], []

        def first_call():
            barrier.wait()
            try:
                results.append(float(f(x)))
            except Exception as e:      # noqa: BLE001  (reported below)
                errors.append(repr(e))
        threads = [threading.Thread(target=first_call) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert results == [pytest.approx(np.sum(np.exp(x) * c), rel=1e-14)] * 2

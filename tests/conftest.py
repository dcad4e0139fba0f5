import os
import tempfile

import numpy as np
import pytest

# Compiled kernels go to a cache private to this test session, never the user's own
# (~/.cache/graphad): every run compiles cold, as CI does on a fresh machine, and
# tests that inspect the cache see only what this run wrote.
os.environ.setdefault("GRAPHAD_CACHE_DIR", tempfile.mkdtemp(prefix="graphad-test-cache-"))


def central_difference(f, x, eps=1e-6):
    """Numerical gradient of scalar f at float64 array x (same shape as x)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros_like(x)
    flat = g.reshape(-1)
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = eps
        e = e.reshape(x.shape)
        flat[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


@pytest.fixture(scope="module")
def shared_cache_dir(tmp_path_factory):
    """One disk cache for a module's compiled kernels, whatever other tests set."""
    path = tmp_path_factory.getbasetemp() / "graphad-cache"
    old = os.environ.get("GRAPHAD_CACHE_DIR")
    os.environ["GRAPHAD_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        del os.environ["GRAPHAD_CACHE_DIR"]
    else:
        os.environ["GRAPHAD_CACHE_DIR"] = old


@pytest.fixture
def rng():
    return np.random.default_rng(0)

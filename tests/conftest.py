import numpy as np
import pytest


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


@pytest.fixture
def rng():
    return np.random.default_rng(0)

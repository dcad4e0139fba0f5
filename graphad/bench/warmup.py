"""A trivial Numba program: running it once does Numba's one-time initialization.

Any process that runs Numba code pays, once, for Numba's target-context registries
(about 0.12 s of CPU here) and for numba.np.arraymath's BLAS check, which imports
scipy.linalg.cython_blas (graphad.cache loads that module alone; imported the usual
way, all of scipy.linalg comes with it). Calling `warm_up` first lets a benchmark
time what a later compile costs by itself (firstcall.py).
"""
import numpy as np
from numba import njit


@njit(cache=True)
def _product(a, b):
    return np.dot(a, b)


def warm_up():
    a = np.ones((2, 2))
    _product(a, a)

"""Arrays made inside generated kernels, through helpers compiled once.

Numba compiles its implementation of `np.empty` and `np.zeros` afresh in every
process that compiles a kernel calling them: about 50 ms per (ndim, dtype) pair
(a kernel making three kinds of arrays compiled in 0.27 s of CPU, 0.13 s through
these helpers). The helpers are compiled once, for each kind of array, and later
processes load them from Numba's disk cache.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def empty_array(shape, dtype):
    return np.empty(shape, dtype)


@njit(cache=True)
def zeros_array(shape, dtype):
    return np.zeros(shape, dtype)


def array_text(shape, dtype, fill="empty") -> str:
    """Source making an uninitialized (`fill` "empty") or zeroed ("zeros") array;
    `shape` is a tuple, an int, or the text of an expression giving one."""
    if isinstance(shape, (tuple, list)):
        shape = str(tuple(int(d) for d in shape))
    return f"{fill}_array({shape}, np.{np.dtype(dtype).name})"

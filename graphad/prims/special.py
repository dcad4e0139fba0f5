"""Special functions that the stabilizing rewrites target.

softplus(x) = log(1 + exp(x)), computed as max(x, 0) + log1p(exp(-|x|)) so it
neither overflows for large x nor loses the tail for very negative x. The
rewrites turn log(sigmoid x) into -softplus(-x) and log(1 + exp x) into it.
"""
from __future__ import annotations

import numpy as np

from .elementwise import _unary, sigmoid


def _softplus_impl(x):
    x = np.asarray(x)
    with np.errstate(over="ignore"):
        out = np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))
    return np.asarray(out, dtype=x.dtype)


softplus_p = _unary("softplus", _softplus_impl, lambda x, out: sigmoid(x))


def softplus(x):
    return softplus_p.bind(x)


PRIMITIVES = (softplus_p,)

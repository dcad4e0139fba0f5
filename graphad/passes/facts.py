"""What a rewrite may assume about a value: its constant value, whether it is
surely finite, whether it is never negative.

The facts are read off the producing nodes of a graph under construction
(`producer`: var -> node). They are conservative: "unknown" is always allowed,
and graph inputs are unknown (a user may pass inf or nan).
"""
from __future__ import annotations

import numpy as np

from ..prims.creation import constant_p

MAX_DEPTH = 8      # how far up the graph a fact is chased before giving up

# Outputs finite whenever the inputs are (bounded or non-growing functions).
_FINITE_IF_INPUTS = frozenset({
    "neg", "abs", "sin", "cos", "tanh", "sigmoid", "arctan", "sign", "floor", "ceil", "round",
    "maximum", "minimum", "select", "reshape", "transpose", "broadcast_to", "slice",
    "concatenate", "reduce_max", "reduce_min", "stop_gradient",
})
# Outputs never negative whatever the inputs (nan allowed, -0.0 ignored).
_NONNEG_ALWAYS = frozenset({"exp", "sqrt", "abs", "square", "sigmoid", "softplus", "cosh"})
# Outputs never negative when every input is never negative.
_NONNEG_IF_INPUTS = frozenset({
    "add", "mul", "div", "minimum", "reshape", "transpose", "broadcast_to", "slice",
    "concatenate", "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "stop_gradient",
})


def const_value(var, producer):
    """The compact constant array `var` holds, or None.

    A `constant` node gives its value; `broadcast_to` of a constant gives the
    constant before broadcasting (every element of the result is one of it).
    """
    node = producer.get(var)
    if node is None:
        return None
    if node.prim is constant_p:
        return node.attrs["value"].value
    if node.prim.name == "broadcast_to":
        inner = producer.get(node.inputs[0])
        if inner is not None and inner.prim is constant_p:
            return inner.attrs["value"].value
    return None


def splat_value(var, producer):
    """The one value every element of `var` equals (a 0-d array), or None."""
    a = const_value(var, producer)
    if a is None or a.size == 0:
        return None
    first = a.reshape(-1)[0]
    if a.size > 1 and not np.all(a == first):
        return None
    return np.asarray(first)


def _memo(known, compute, var, depth):
    value = known.get(var)
    if value is None:
        value = known[var] = compute(var, depth)
    return value


class Facts:
    """Memoized `finite(var)` and `nonneg(var)` over a growing graph."""

    def __init__(self, producer):
        self.producer = producer
        self._finite = {}
        self._nonneg = {}

    def finite(self, var, depth=0) -> bool:
        """True when no element of `var` can be inf or nan."""
        if var.type.dtype.kind in "biu":
            return True
        return _memo(self._finite, self._compute_finite, var, depth)

    def _compute_finite(self, var, depth) -> bool:
        node = self.producer.get(var)
        if node is None or depth > MAX_DEPTH:
            return False
        name = node.prim.name
        if node.prim is constant_p:
            return bool(np.all(np.isfinite(node.attrs["value"].value)))
        if name == "convert":       # a narrowing cast can overflow (1e300 -> f32 is inf)
            src, dst = node.inputs[0].type.dtype, var.type.dtype
            if src.kind in "biu":
                return src.kind == "b" or dst.itemsize >= 4
            return dst.itemsize >= src.itemsize and self.finite(node.inputs[0], depth + 1)
        if name in _FINITE_IF_INPUTS:
            return all(self.finite(v, depth + 1) for v in node.inputs if v.type.dtype.kind == "f")
        return False

    def nonneg(self, var, depth=0) -> bool:
        """True when no element of `var` can be negative (nan and -0.0 allowed)."""
        if var.type.dtype.kind in "bu":
            return True
        return _memo(self._nonneg, self._compute_nonneg, var, depth)

    def _compute_nonneg(self, var, depth) -> bool:
        node = self.producer.get(var)
        if node is None or depth > MAX_DEPTH:
            return False
        name = node.prim.name
        if node.prim is constant_p:
            return bool(np.all(~(node.attrs["value"].value < 0)))
        if name in _NONNEG_ALWAYS:
            return True
        if name == "mul" and node.inputs[0] is node.inputs[1]:
            return True                                       # x*x
        if name == "maximum":
            return any(self.nonneg(v, depth + 1) for v in node.inputs)
        if name == "convert":
            return node.inputs[0].type.dtype.kind in "bu" or self.nonneg(node.inputs[0], depth + 1)
        if name == "select":
            return all(self.nonneg(v, depth + 1) for v in node.inputs[1:])
        if name == "pow":
            return self.nonneg(node.inputs[0], depth + 1)
        if name in _NONNEG_IF_INPUTS:
            return all(self.nonneg(v, depth + 1) for v in node.inputs)
        return False

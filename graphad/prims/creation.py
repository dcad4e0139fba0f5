"""Constants: the one way a literal value enters a graph."""
from __future__ import annotations

from ..ir import Const, TensorType
from .core import Primitive

constant_p = Primitive("constant", infer=lambda *, value: TensorType(value.value.shape, value.value.dtype),
                       impl=lambda *, value: value.value, kind="creation", differentiable=False)


def constant_value(node):
    """The array a `constant` node holds, or None for any other node."""
    return node.attrs["value"].value if node.prim is constant_p else None


PRIMITIVES = (constant_p,)
__all__ = ["Const", "constant_p", "constant_value", "PRIMITIVES"]

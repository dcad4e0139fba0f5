"""The verifier: SSA order, arity, and types consistent with each shape rule."""
from __future__ import annotations

from ..errors import VerificationError
from .graph import Graph
from .types import TensorType


def verify(graph: Graph) -> None:
    """Raise VerificationError on the first broken invariant."""
    defined = set()
    for v in graph.inputs:
        if v in defined:
            raise VerificationError(f"input {v} appears twice")
        defined.add(v)
    for i, node in enumerate(graph.nodes):
        where = f"node {i} ({node.prim.name})"
        for v in node.inputs:
            if v not in defined:
                raise VerificationError(f"{where} uses a variable before it is defined")
        try:
            expected = node.prim.infer(*[v.type for v in node.inputs], **node.attrs)
        except Exception as e:  # the shape rule itself rejected the inputs
            raise VerificationError(f"{where}: shape rule failed: {e}") from e
        if isinstance(expected, TensorType):
            expected = (expected,)
        got = tuple(v.type for v in node.outputs)
        if tuple(expected) != got:
            raise VerificationError(f"{where}: outputs typed {got}, shape rule says {tuple(expected)}")
        for v in node.outputs:
            if v in defined:
                raise VerificationError(f"{where} redefines a variable (not SSA)")
            defined.add(v)
        for sub in node.subgraphs():
            verify(sub)
    for v in graph.outputs:
        if v not in defined:
            raise VerificationError("a graph output is never defined")

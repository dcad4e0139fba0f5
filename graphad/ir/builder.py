"""Incremental construction of a Graph, inferring each node's output types."""
from __future__ import annotations

from .graph import Graph, Node, Var
from .types import TensorType


class GraphBuilder:
    """Appends nodes in order; output types come from the primitive's shape rule."""

    def __init__(self):
        self.inputs: list[Var] = []
        self.nodes: list[Node] = []
        self.meta: dict = {}   # merged into every node added (e.g. phase="adjoint")

    def add_input(self, type: TensorType) -> Var:
        v = Var(type)
        self.inputs.append(v)
        return v

    def add(self, prim, inputs, attrs=None, meta=None) -> tuple[Var, ...]:
        attrs = attrs or {}
        types = prim.infer(*[v.type for v in inputs], **attrs)
        if isinstance(types, TensorType):
            types = (types,)
        outs = tuple(Var(t) for t in types)
        node_meta = dict(self.meta, **meta) if meta else dict(self.meta)
        self.nodes.append(Node(prim, inputs, outs, attrs, node_meta))
        return outs

    def build(self, outputs) -> Graph:
        return Graph(self.inputs, self.nodes, outputs)

"""The graph IR: typed variables, nodes in SSA order, and graphs as values.

A `Graph` is a tuple of input `Var`s, a tuple of `Node`s in topological order,
and a tuple of output `Var`s. Nodes never change after construction; a pass
builds a new graph. A node's attributes are hashable values and may include
sub-graphs (fused regions, control-flow bodies), so one IR serves all stages.
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .types import TensorType


class Var:
    """A typed SSA value. Identity is the object; names exist only in print."""

    __slots__ = ("type",)

    def __init__(self, type: TensorType):
        self.type = type

    @property
    def shape(self):
        return self.type.shape

    @property
    def dtype(self):
        return self.type.dtype

    def __repr__(self):
        return f"Var({self.type})"


class Const:
    """A hashable, read-only array used as a node attribute (constant values)."""

    __slots__ = ("value", "_key", "_hash")

    def __init__(self, value):
        a = np.array(value, copy=True)
        a.setflags(write=False)
        self.value = a
        self._key = (a.dtype.str, a.shape, a.tobytes())
        self._hash = hash(self._key)

    def __eq__(self, other):
        return isinstance(other, Const) and self._key == other._key

    def __hash__(self):
        return self._hash

    def __repr__(self):
        a = self.value
        if a.size <= 6:
            text = np.array2string(a, separator=",", precision=17 if a.dtype == np.float64 else 8,
                                   floatmode="unique")
            return text.replace("\n", "")
        return f"<{TensorType(a.shape, a.dtype)}>"


class Node:
    """One equation: `outputs = prim(*inputs, **attrs)`.

    `meta` carries information that is not part of the node's meaning (phase of
    the computation for rendering, the user's source line); it is ignored by
    equality, CSE and the cache key.
    """

    __slots__ = ("prim", "inputs", "outputs", "attrs", "meta")

    def __init__(self, prim, inputs, outputs, attrs: Mapping[str, Any] | None = None, meta=None):
        self.prim = prim
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)
        self.attrs = dict(attrs or {})
        self.meta = dict(meta or {})

    @property
    def out(self) -> Var:
        (v,) = self.outputs
        return v

    def attr_key(self) -> tuple:
        """Hashable, order-independent view of the attributes."""
        return tuple(sorted(self.attrs.items()))

    def subgraphs(self):
        """The graphs this node carries as attributes (fusion, control flow)."""
        for value in self.attrs.values():
            if isinstance(value, Graph):
                yield value
            elif isinstance(value, tuple):
                yield from (v for v in value if isinstance(v, Graph))

    def __repr__(self):
        return f"Node({self.prim.name}, {len(self.inputs)} in, {len(self.outputs)} out)"


class Graph:
    """Inputs, nodes in topological order, outputs. A value: never mutated."""

    __slots__ = ("inputs", "nodes", "outputs", "__weakref__")

    def __init__(self, inputs, nodes, outputs):
        self.inputs = tuple(inputs)
        self.nodes = tuple(nodes)
        self.outputs = tuple(outputs)

    @property
    def in_types(self):
        return tuple(v.type for v in self.inputs)

    @property
    def out_types(self):
        return tuple(v.type for v in self.outputs)

    def __len__(self):
        return len(self.nodes)

    def count_nodes(self, recursive: bool = True) -> int:
        """Number of nodes, including those inside sub-graphs when `recursive`."""
        n = len(self.nodes)
        if recursive:
            n += sum(g.count_nodes() for node in self.nodes for g in node.subgraphs())
        return n

    def __str__(self):
        from .printer import format_graph
        return format_graph(self)

    def __repr__(self):
        return (f"<Graph {len(self.inputs)} inputs, {len(self.nodes)} nodes, "
                f"{len(self.outputs)} outputs>")

    def verify(self) -> "Graph":
        from .verify import verify
        verify(self)
        return self

    def to_networkx(self):
        from .export import to_networkx
        return to_networkx(self)

    # Rendering lives outside the IR; these delegate so a Graph shows itself.
    def render(self, path, format=None, **options):
        from graphad.render import render_graph
        return render_graph(self, path, format=format, **options)

    def to_dot(self, **options):
        from graphad.render import graph_to_dot
        return graph_to_dot(self, **options)

    def _repr_svg_(self):
        from graphad.errors import RenderError
        from graphad.render import graph_svg
        try:
            return graph_svg(self)
        except RenderError:         # no Graphviz: Jupyter falls back to the text
            return None

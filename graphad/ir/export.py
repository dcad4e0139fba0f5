"""Export a graph to networkx for analysis."""
from __future__ import annotations

import networkx as nx

from .graph import Graph


def to_networkx(graph: Graph) -> nx.DiGraph:
    """One networkx node per input, IR node and output; edges carry types.

    Node keys: ("input", i), ("node", i), ("output", i). Each carries `op`
    (primitive name, "input" or "output") and `type` / `types`.
    """
    g = nx.DiGraph()
    producer = {}
    for i, v in enumerate(graph.inputs):
        g.add_node(("input", i), op="input", type=str(v.type))
        producer[v] = ("input", i)
    for i, node in enumerate(graph.nodes):
        key = ("node", i)
        g.add_node(key, op=node.prim.name, types=[str(v.type) for v in node.outputs],
                   attrs={k: v for k, v in node.attrs.items()}, phase=node.meta.get("phase", "forward"))
        for v in node.inputs:
            g.add_edge(producer[v], key, type=str(v.type))
        for v in node.outputs:
            producer[v] = key
    for i, v in enumerate(graph.outputs):
        g.add_node(("output", i), op="output", type=str(v.type))
        g.add_edge(producer[v], ("output", i), type=str(v.type))
    return g

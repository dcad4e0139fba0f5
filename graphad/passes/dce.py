"""Dead-code elimination: keep only nodes some output depends on."""
from __future__ import annotations

from ..ir import Graph


def dce(graph: Graph) -> Graph:
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(v in live for v in node.outputs):
            kept.append(node)
            live.update(node.inputs)
    if len(kept) == len(graph.nodes):
        return graph
    return Graph(graph.inputs, reversed(kept), graph.outputs)

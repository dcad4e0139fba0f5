"""Dead-code elimination: keep only nodes some output depends on.

Sub-graphs keep their inputs and outputs (their node's meaning depends on
them); dead nodes inside them are removed too.
"""
from __future__ import annotations

from collections import Counter

from ..ir import Graph
from .subgraphs import map_subgraphs, memoized


def dce(graph: Graph, hits: Counter | None = None) -> Graph:
    live = set(graph.outputs)
    kept = []
    changed = False
    sub = memoized(dce, hits)

    for node in reversed(graph.nodes):
        if any(v in live for v in node.outputs):
            new = map_subgraphs(node, sub)
            changed |= new is not node
            node = new
            kept.append(node)
            live.update(node.inputs)
    removed = len(graph.nodes) - len(kept)
    if hits is not None and removed:
        hits["dce"] += removed
    if not removed and not changed:
        return graph
    return Graph(graph.inputs, reversed(kept), graph.outputs)

"""Common-subexpression elimination: one node per (primitive, inputs, attributes).

Commutative operations are keyed with their operands in definition order, so
`a*b` and `b*a` merge; constants are keyed by value (`Const` hashes its bytes),
so equal constants merge. A node's `meta` does not take part: the first
occurrence (usually the forward one) is kept.
"""
from __future__ import annotations

from collections import Counter

from ..ir import Graph
from .rules import COMMUTATIVE
from .subgraphs import memoized, renamed


def cse(graph: Graph, hits: Counter | None = None) -> Graph:
    hits = Counter() if hits is None else hits
    rank = {v: i for i, v in enumerate(graph.inputs)}
    env, seen, nodes = {}, {}, []
    changed = False
    sub = memoized(cse, hits)

    for node in graph.nodes:
        new = renamed(node, env, sub)
        changed |= new is not node
        node = new
        inputs = node.inputs
        if len(inputs) == 2 and node.prim.name in COMMUTATIVE:
            inputs = tuple(sorted(inputs, key=rank.__getitem__))
        key = (node.prim, inputs, node.attr_key())
        try:
            first = seen.get(key)
        except TypeError:          # an unhashable attribute: never merged
            first, key = None, None
        if first is not None:
            env.update(zip(node.outputs, first.outputs))
            hits["cse"] += 1
            changed = True
            continue
        if key is not None:
            seen[key] = node
        nodes.append(node)
        for v in node.outputs:
            rank[v] = len(rank)
    if not changed:
        return graph
    return Graph(graph.inputs, nodes, [env.get(v, v) for v in graph.outputs])

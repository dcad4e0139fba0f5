"""Replace each custom_vjp_call node by the nodes of its fwd graph.

Run once reverse mode has used the custom rules (so forward mode over a
gradient sees ordinary primitives) and before a backend compiles a graph (so
backends never need a lowering for it). Sub-graphs of other nodes (control
flow bodies) are rewritten too.
"""
from __future__ import annotations

from ..ir import Graph, Node
from ..prims.custom import custom_vjp_call_p
from .subgraphs import splice


def _contains(graph: Graph) -> bool:
    return any(n.prim is custom_vjp_call_p or any(_contains(g) for g in n.subgraphs())
               for n in graph.nodes)


def _rewrite_attrs(attrs):
    out = {}
    for key, value in attrs.items():
        if isinstance(value, Graph):
            value = inline_custom_calls(value)
        elif isinstance(value, tuple) and any(isinstance(v, Graph) for v in value):
            value = tuple(inline_custom_calls(v) if isinstance(v, Graph) else v for v in value)
        out[key] = value
    return out


def inline_custom_calls(graph: Graph) -> Graph:
    if not _contains(graph):
        return graph
    rename, nodes = {}, []
    for node in graph.nodes:
        ins = [rename.get(v, v) for v in node.inputs]
        if node.prim is not custom_vjp_call_p:
            attrs = _rewrite_attrs(node.attrs) if any(True for _ in node.subgraphs()) else node.attrs
            nodes.append(Node(node.prim, ins, node.outputs, attrs, node.meta))
            continue
        outs = splice(inline_custom_calls(node.attrs["fwd"]), ins, nodes, node.meta)
        rename.update(zip(node.outputs, outs))
    return Graph(graph.inputs, nodes, [rename.get(v, v) for v in graph.outputs])

"""Passes recurse into the graphs nodes carry as attributes (fusion, control flow);
and what several passes need to know of a graph's equations."""
from __future__ import annotations

from collections import Counter

from ..ir import Graph, Node, Var


def use_counts(graph: Graph) -> Counter:
    """How often each var is read: as a node's input (a node with sub-graphs lists what
    they read among its inputs) or as one of the graph's outputs."""
    uses = Counter(v for node in graph.nodes for v in node.inputs)
    uses.update(graph.outputs)
    return uses


def map_subgraphs(node: Node, fn) -> Node:
    """`node` with `fn` applied to each sub-graph attribute; `node` itself if none changed.

    `fn` must keep a sub-graph's inputs and output types (every pass does), so
    the node's meaning is unchanged.
    """
    if not node.attrs:
        return node
    changed = False
    attrs = {}
    for key, value in node.attrs.items():
        if isinstance(value, Graph):
            new = fn(value)
        elif isinstance(value, tuple) and any(isinstance(v, Graph) for v in value):
            new = tuple(fn(v) if isinstance(v, Graph) else v for v in value)
            new = value if all(a is b for a, b in zip(new, value)) else new
        else:
            new = value
        changed |= new is not value
        attrs[key] = new
    if not changed:
        return node
    return Node(node.prim, node.inputs, node.outputs, attrs, node.meta)


def splice(graph: Graph, inputs, nodes: list, meta) -> list:
    """Append `graph`'s equations to `nodes`, reading `inputs` for its inputs, with fresh
    vars (one graph may be spliced in many times) and `meta` over each equation's own;
    the vars of its outputs."""
    local = dict(zip(graph.inputs, inputs))
    for n in graph.nodes:
        outs = [Var(v.type) for v in n.outputs]
        nodes.append(Node(n.prim, [local[v] for v in n.inputs], outs, n.attrs,
                          dict(n.meta, **meta)))
        local.update(zip(n.outputs, outs))
    return [local[v] for v in graph.outputs]


def memoized(pass_fn, hits):
    """A sub-graph rewriter running `pass_fn(g, hits)` once per distinct sub-graph."""
    memo = {}

    def sub(g):
        if g not in memo:
            memo[g] = pass_fn(g, hits)
        return memo[g]
    return sub


def renamed(node: Node, env, sub) -> Node:
    """`node` reading its inputs through `env` (old var -> replacement) and with its
    sub-graphs rewritten by `sub`; `node` itself when neither changes anything."""
    inputs = tuple(env.get(v, v) for v in node.inputs)
    new = map_subgraphs(node, sub)
    if inputs == node.inputs and new is node:
        return node
    return Node(node.prim, inputs, node.outputs, new.attrs, node.meta)

"""Constant folding: evaluate at compile time the nodes whose inputs are all constant.

The primitive's numpy implementation computes the value, so folding means
exactly what evaluating would. Size caps keep folding from creating or reading
huge arrays:
  - a folded result that is not uniform is kept only up to FOLD_MAX_ELEMENTS
    (1024) elements; larger ones stay as computations;
  - a uniform result (every element equal) of any size becomes
    broadcast_to(scalar constant), never a materialized array; elementwise
    nodes whose operands are all uniform are evaluated on the scalars, so
    their size does not matter;
  - other nodes are evaluated only when every operand and the result have at
    most FOLD_MAX_INPUT (65536) elements.
Uniform `constant` nodes of more than one element are rewritten the same way
(`np.ones((1000, 1000))` becomes a broadcast 1.0). `broadcast_to` of a constant
is already in that canonical form and is not folded.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..ir import Const, Graph, Node, TensorType, Var
from ..prims import BY_NAME
from ..prims.creation import constant_p
from .facts import const_value
from .subgraphs import memoized, renamed

FOLD_MAX_ELEMENTS = 1024
FOLD_MAX_INPUT = 1 << 16
_broadcast_to = BY_NAME["broadcast_to"]


def _uniform(a):
    """The scalar every element of `a` equals (0-d array), or None."""
    if a.size == 0:
        return None
    first = a.reshape(-1)[0]
    return np.asarray(first) if a.size == 1 or np.all(a == first) else None


def _evaluate(node, producer):
    """(value, uniform) for a node whose inputs are all constant, else None."""
    prim, out = node.prim, node.outputs[0].type
    if (prim is _broadcast_to or prim is constant_p or len(node.outputs) != 1
            or prim.kind in ("control", "fused") or any(True for _ in node.subgraphs())):
        return None
    compact = [const_value(v, producer) for v in node.inputs]
    if any(a is None for a in compact):
        return None
    scalars = [_uniform(a) for a in compact] if prim.kind == "elementwise" else [None]
    if all(s is not None for s in scalars) and prim.kind == "elementwise":
        args, uniform = scalars, True
    else:
        if out.size > FOLD_MAX_INPUT or any(v.type.size > FOLD_MAX_INPUT for v in node.inputs):
            return None
        args = [np.broadcast_to(a, v.type.shape) for a, v in zip(compact, node.inputs)]
        uniform = False
    try:
        with np.errstate(all="ignore"):
            value = np.asarray(prim.impl(*args, **node.attrs))
    except Exception:           # e.g. integers to negative powers: leave it to run time
        return None
    if value.dtype != out.dtype:
        if value.dtype.kind != out.dtype.kind:
            return None
        value = value.astype(out.dtype)
    if uniform:
        return (value, True) if value.shape == () else None
    if value.shape != out.shape:
        return None
    return value, False


def fold(graph: Graph, hits: Counter | None = None) -> Graph:
    """Replace constant computations by their values; `graph` itself if none."""
    hits = Counter() if hits is None else hits
    env, producer, constants, nodes = {}, {}, {}, []
    changed = False

    def emit(node):
        nodes.append(node)
        for v in node.outputs:
            producer[v] = node
        if node.prim is constant_p:
            constants.setdefault(node.attrs["value"], node.outputs[0])

    def constant(array, meta):
        c = Const(array)
        var = constants.get(c)
        if var is None:
            var = Var(TensorType(array.shape, array.dtype))
            emit(Node(constant_p, (), (var,), {"value": c}, meta))
        return var

    sub = memoized(fold, hits)

    for node in graph.nodes:
        new = renamed(node, env, sub)
        changed |= new is not node
        node = new
        if node.prim is constant_p:
            value, uniform = node.attrs["value"].value, True
            if value.size <= 1 or _uniform(value) is None:
                emit(node)
                continue
            value, kind = _uniform(value), "splat"
        else:
            result = _evaluate(node, producer)
            if result is None:
                emit(node)
                continue
            value, uniform = result
            kind = "fold"
        out = node.outputs[0]
        if not uniform and value.size > 1:
            s = _uniform(value)
            value, uniform = (s, True) if s is not None else (value, False)
        if not uniform and value.size > FOLD_MAX_ELEMENTS:
            emit(node)
            continue
        var = constant(value, node.meta)
        if var.type.shape != out.type.shape:
            b = Var(out.type)
            emit(Node(_broadcast_to, (var,), (b,), {"shape": out.type.shape}, node.meta))
            var = b
        env[out] = var
        hits[kind] += 1
        changed = True
    if not changed:
        return graph
    return Graph(graph.inputs, nodes, [env.get(v, v) for v in graph.outputs])

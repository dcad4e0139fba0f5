"""Reverse mode as a graph transformation: Graph -> forward + adjoint Graph.

The forward equations are re-emitted, then the nodes are walked in reverse
order calling each primitive's vjp rule. Rules are written with graphad
operations, so they record into the new graph (and the result can itself be
differentiated). Cotangents are accumulated at fan-out, summed back over
broadcast dimensions, and computed only for values that depend on a requested
input. `where`'s rule marks the cotangents it sends to each branch as masked;
upstream elementwise cotangents are then zeroed outside the mask, so a NaN or
inf in the branch not taken never reaches the gradient.
"""
from __future__ import annotations

import numpy as np

from ..errors import GraphadError
from ..ir import Graph
from ..prims.core import Masked
from ..prims.elementwise import logical_and, logical_or, select, zeros_of
from ..prims.shape import broadcast_to, sum_to_shape
from ..trace import Tracer, new_trace, replay
from .dce import dce
from .inline_custom import inline_custom_calls


def _active_vars(graph: Graph, wrt):
    """Float values that depend on the inputs in `wrt` through differentiable nodes."""
    active = {graph.inputs[i] for i in wrt if graph.inputs[i].type.is_float}
    for node in graph.nodes:
        if node.prim.differentiable and any(v in active for v in node.inputs):
            active.update(v for v in node.outputs if v.type.is_float)
    return active


class _Cotangent:
    __slots__ = ("value", "mask")

    def __init__(self, value, mask=None):
        self.value, self.mask = value, mask

    def add(self, other: "_Cotangent") -> "_Cotangent":
        mask = None
        if self.mask is not None and other.mask is not None:
            mask = self.mask if self.mask is other.mask else logical_or(self.mask, other.mask)
        return _Cotangent(self.value + other.value, mask)


def backward(nodes, read, cotangents: dict, active):
    """Run vjp rules over `nodes` in reverse, accumulating into `cotangents`.

    `read(var)` gives the value standing for a primal var; `cotangents` maps
    vars to _Cotangent. Shared by graph-to-graph reverse mode and eager mode.
    """
    for node in reversed(nodes):
        if not node.prim.differentiable or not any(v in cotangents for v in node.outputs):
            continue
        if not any(v in active for v in node.inputs):
            for v in node.outputs:
                cotangents.pop(v, None)
            continue
        gs = [cotangents.pop(v, None) for v in node.outputs]
        outs = [read(v) for v in node.outputs]
        if node.prim.multiple_results:
            g = tuple(c.value if c is not None else broadcast_to(zeros_of(o), o.shape)
                      for c, o in zip(gs, outs))
            mask, out = None, tuple(outs)
        else:
            g, mask, out = gs[0].value, gs[0].mask, outs[0]
        inputs = [read(v) for v in node.inputs]
        parts = node.prim.vjp_parts
        if parts is not None:          # compute only the cotangents some input needs
            cts = [part(g, *inputs, out=out, **node.attrs) if v in active else None
                   for part, v in zip(parts, node.inputs)]
        elif node.prim.vjp is None:
            raise GraphadError(f"primitive {node.prim.name} has no reverse-mode (vjp) rule")
        else:
            cts = node.prim.vjp(g, *inputs, out=out, **node.attrs)
        guard = mask is not None and node.prim.kind == "elementwise"
        for var, ct in zip(node.inputs, cts):
            if ct is None or var not in active:
                continue
            ct_mask = None
            if isinstance(ct, Masked):
                ct, ct_mask = ct.value, ct.mask
            if guard:
                ct = select(mask, ct, zeros_of(ct))
                # zero outside both masks: nested wheres keep the outer one's zeros
                ct_mask = mask if ct_mask is None else logical_and(mask, ct_mask)
            if tuple(ct.shape) != var.type.shape:
                ct, ct_mask = sum_to_shape(ct, var.type.shape), None
            new = _Cotangent(ct, ct_mask)
            old = cotangents.get(var)
            cotangents[var] = new if old is None else old.add(new)
    return cotangents


def reverse_mode(graph: Graph, wrt, seed_inputs: bool = False) -> Graph:
    """Forward + adjoint graph of `graph`.

    Outputs: the primal outputs, then the cotangent of each input in `wrt`.
    With `seed_inputs`, the output cotangents are extra trailing inputs;
    otherwise the single scalar output is seeded with 1.
    """
    if not seed_inputs and (len(graph.outputs) != 1 or graph.outputs[0].type.shape != ()):
        raise GraphadError("reverse_mode without seed inputs needs one scalar output")
    with new_trace() as trace:
        primals = [trace.new_input(v.type) for v in graph.inputs]
        seeds = [trace.new_input(v.type) for v in graph.outputs] if seed_inputs else None
        values = replay(graph, primals)     # the forward equations, re-emitted

        active = _active_vars(graph, wrt)
        trace.builder.meta = {"phase": "adjoint"}
        cotangents = {}
        for i, v in enumerate(graph.outputs):
            if v in active:
                seed = seeds[i] if seeds is not None else np.ones((), v.type.dtype)
                cotangents[v] = _Cotangent(_as_traced(trace, seed))
        backward(graph.nodes, values.__getitem__, cotangents, active)

        outs = [trace.var_of(values[v]) for v in graph.outputs]
        for i in wrt:
            v = graph.inputs[i]
            ct = cotangents.get(v)
            value = ct.value if ct is not None else broadcast_to(zeros_of(v), v.type.shape)
            outs.append(trace.var_of(value))
        b = trace.builder
        # Custom rules are used now: their nodes become plain fwd nodes (inline_custom.py).
        return dce(inline_custom_calls(Graph(b.inputs, b.nodes, outs)))


def _as_traced(trace, value):
    return value if isinstance(value, Tracer) else Tracer(trace, trace.var_of(value))

"""Forward mode as a graph transformation: Graph -> primal + tangent Graph.

The primal equations are re-emitted in order and, beside each node that
depends on a requested input, the tangent equations its jvp rule writes.
Rules are written with graphad operations, so they record into the new graph
and the result can itself be differentiated.

Tangents are symbolic zeros until they depend on a requested input. A rule is
written for full tangents (`t[0] * y + x * t[1]`), so each node's rule is first
traced into a small graph of its own and then inlined with the zero inputs
propagated: `mul(0, y)` and `dot(0, W)` vanish and `add(0, u)` is `u`. Without
that, every binary operation with one inactive operand would cost an extra
product by zero (a whole matrix product for `x @ W` when only `W` varies),
and IEEE-safe simplification may not remove `y * 0` (it is NaN for y = inf).
"""
from __future__ import annotations

import weakref

import numpy as np

from ..errors import GraphadError
from ..ir import Graph, TensorType
from ..prims import elementwise as E
from ..prims import indexing as I
from ..prims import linalg as L
from ..prims import reductions as R
from ..prims import shape as S
from ..trace import Tracer, new_trace

_ZERO = object()   # a symbolic zero tangent while inlining a rule

# Rule-graph primitives whose output is zero when the inputs marked True are all zero.
_SINGLE = (True,)
ZERO_WHEN = {
    E.mul_p: "any", L.dot_general_p: "any", E.div_p: (True, False),
    E.neg_p: _SINGLE, E.convert_p: _SINGLE, R.reduce_sum_p: _SINGLE,
    S.reshape_p: _SINGLE, S.transpose_p: _SINGLE, S.broadcast_to_p: _SINGLE,
    S.slice_p: _SINGLE, S.scatter_slice_p: _SINGLE, R.cumsum_p: _SINGLE,
    I.gather_p: (True, False), I.scatter_add_p: (True, False),
    E.add_p: "all", E.sub_p: "all", S.concatenate_p: "all", E.select_p: (False, True, True),
}


def _is_zero_output(prim, zero_flags) -> bool:
    when = ZERO_WHEN.get(prim)
    if when is None:
        return False
    if when == "any":
        return any(zero_flags)
    if when == "all":
        return all(zero_flags)
    return all(z for z, needed in zip(zero_flags, when) if needed)


def zeros(trace, type: TensorType):
    """A traced zero of `type` (a broadcast scalar, not a full-size constant)."""
    z = Tracer(trace, trace.constant(np.zeros((), type.dtype)))
    return S.broadcast_to(z, type.shape)


def _as_tracer(trace, value, type: TensorType):
    """`value` as a tracer of exactly `type` (rules may return constants or broadcastable values)."""
    if not isinstance(value, Tracer) or value._trace is not trace:
        value = Tracer(trace, trace.var_of(value))
    if np.dtype(value.dtype) != type.dtype:
        value = E.convert(value, type.dtype)
    return S.broadcast_to(value, type.shape)


def _trace_rule(node, args, out):
    """The node's jvp rule as a graph (tangents..., captured primals...) -> output tangents."""
    with new_trace() as sub:
        tangent_ins = [sub.new_input(v.type) for v in node.inputs]
        result = node.prim.jvp(tuple(tangent_ins), *args, out=out, **node.attrs)
        results = result if node.prim.multiple_results else (result,)
        outs = [sub.var_of(r) for r in results]
        b = sub.builder
        captured = {inner: outer for outer, inner in sub.captured.values()}
        return Graph(b.inputs, b.nodes, outs), captured


def _inline_rule(trace, rule: Graph, captured, tangents):
    """Inline `rule` with `tangents` (a value or _ZERO each), propagating zeros."""
    env = dict(zip(rule.inputs, tangents))
    env.update(captured)
    for n in rule.nodes:
        ins = [env[v] for v in n.inputs]
        flags = [x is _ZERO for x in ins]
        if any(flags):
            if _is_zero_output(n.prim, flags):
                env.update((v, _ZERO) for v in n.outputs)
                continue
            if n.prim in (E.add_p, E.sub_p):   # one side zero: the other, broadcast (negated)
                (t,) = [x for x in ins if x is not _ZERO]
                if n.prim is E.sub_p and flags[0]:
                    t = E.neg(t)
                env[n.out] = S.broadcast_to(t, n.out.type.shape)
                continue
            ins = [zeros(trace, v.type) if f else x for x, v, f in zip(ins, n.inputs, flags)]
        out = n.prim.bind(*ins, **n.attrs)
        env.update(zip(n.outputs, out if n.prim.multiple_results else (out,)))
    return [env[v] for v in rule.outputs]


def forward_mode(graph: Graph, wrt, tangent_inputs=None) -> Graph:
    """Primal + tangent graph of `graph` along the inputs `wrt` (indices).

    Inputs: `graph`'s inputs, then one tangent per index in `wrt` (typed like
    its primal) unless `tangent_inputs` names, per index in `wrt`, which of
    `graph`'s own inputs carries that tangent. Outputs: the primal outputs,
    then the tangent of each output (zeros where an output does not depend on
    `wrt`). Tangents of non-float values are zero.
    """
    with new_trace() as trace:
        primals = [trace.new_input(v.type) for v in graph.inputs]
        if tangent_inputs is None:
            seeds = [trace.new_input(graph.inputs[i].type) for i in wrt]
        else:
            seeds = [primals[j] for j in tangent_inputs]
        env = dict(zip(graph.inputs, primals))
        tangents = {graph.inputs[i]: t for i, t in zip(wrt, seeds) if graph.inputs[i].type.is_float}
        trace.builder.meta = {"phase": "tangent"}
        for node in graph.nodes:
            args = [env[v] for v in node.inputs]
            trace.builder.meta = {}
            out = node.prim.bind(*args, **node.attrs)
            trace.builder.meta = {"phase": "tangent"}
            outs = out if node.prim.multiple_results else (out,)
            env.update(zip(node.outputs, outs))
            if not node.prim.differentiable or not any(v in tangents for v in node.inputs):
                continue
            if node.prim.jvp is None:
                raise GraphadError(f"primitive {node.prim.name} has no forward-mode (jvp) rule")
            rule, captured = _trace_rule(node, args, out)
            results = _inline_rule(trace, rule, captured,
                                   [tangents.get(v, _ZERO) for v in node.inputs])
            for v, t in zip(node.outputs, results):
                if t is not _ZERO and v.type.is_float:
                    tangents[v] = _as_tracer(trace, t, v.type)
        outs = [trace.var_of(env[v]) for v in graph.outputs]
        for v in graph.outputs:
            t = tangents.get(v)
            outs.append(trace.var_of(t if t is not None else zeros(trace, v.type)))
        b = trace.builder
        return Graph(b.inputs, b.nodes, outs)


_TANGENT_GRAPHS = weakref.WeakKeyDictionary()


def tangent_graph(graph: Graph) -> Graph:
    """(inputs..., a tangent per input...) -> (outputs..., a tangent per output...).

    The closed form control-flow primitives use for their bodies' jvp; cached per graph.
    """
    tg = _TANGENT_GRAPHS.get(graph)
    if tg is None:
        tg = _TANGENT_GRAPHS[graph] = forward_mode(graph, range(len(graph.inputs)))
    return tg

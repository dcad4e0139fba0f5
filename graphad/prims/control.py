"""Structured control flow: primitives whose bodies are sub-graphs.

cond:      outputs = (true_branch if pred else false_branch)(*operands)
while:     carry = init; while cond_graph(carry, consts): carry = body_graph(carry, consts)
while_vjp: reverse mode through `while`. It runs the loop forward recording
           each carry on a tape, then runs the body's adjoint graph backwards
           over the tape. The tape lives inside this one node, so a loop with a
           data-dependent trip count differentiates without the IR needing a
           value of unknown shape.
Operands of every node are the carried/branch values followed by the values
the bodies close over ("consts"), so sub-graphs are closed.
"""
from __future__ import annotations

import weakref

import numpy as np

from ..errors import GraphadError
from ..ir import Graph, TensorType
from .core import Primitive


def _evaluate(graph, args):
    from ..backends.numpy import evaluate    # the reference semantics of a sub-graph
    return evaluate(graph, list(args))


# ---- cond ------------------------------------------------------------------------

def _cond_type(pred: TensorType, *operands, true_branch, false_branch):
    if pred.shape != () or pred.dtype != np.bool_:
        raise GraphadError(f"cond: the predicate must be a bool scalar, got {pred}")
    return true_branch.out_types


def _cond_impl(pred, *operands, true_branch, false_branch):
    return tuple(_evaluate(true_branch if pred else false_branch, operands))


def _float_positions(graph: Graph):
    return [i for i, v in enumerate(graph.inputs) if v.type.is_float]


_ADJOINTS = weakref.WeakKeyDictionary()


def adjoint_graph(graph: Graph) -> Graph:
    """Graph (inputs..., output cotangents...) -> cotangents of the float inputs."""
    adj = _ADJOINTS.get(graph)
    if adj is None:
        from ..passes.dce import dce
        from ..passes.reverse_mode import reverse_mode
        full = reverse_mode(graph, _float_positions(graph), seed_inputs=True)
        adj = _ADJOINTS[graph] = dce(Graph(full.inputs, full.nodes, full.outputs[len(graph.outputs):]))
    return adj


def _scatter_float(graph, cts):
    """Cotangents of the float inputs -> one entry per input (None for the others)."""
    out = [None] * len(graph.inputs)
    for i, ct in zip(_float_positions(graph), cts):
        out[i] = ct
    return out


def _cond_vjp(g, pred, *operands, out, true_branch, false_branch):
    cts = cond_p.bind(pred, *operands, *g, true_branch=adjoint_graph(true_branch),
                      false_branch=adjoint_graph(false_branch))
    return (None, *_scatter_float(true_branch, cts))


def _cond_jvp(t, pred, *operands, out, true_branch, false_branch):
    from ..passes.forward_mode import tangent_graph
    outs = cond_p.bind(pred, *operands, *t[1:], true_branch=tangent_graph(true_branch),
                       false_branch=tangent_graph(false_branch))
    return tuple(outs[len(out):])        # tangent graphs return (outputs..., tangents...)


cond_p = Primitive("cond", infer=_cond_type, impl=_cond_impl, kind="control", multiple_results=True,
                   vjp=_cond_vjp, jvp=_cond_jvp)


# ---- while -----------------------------------------------------------------------

def _while_type(*inputs, cond_graph, body_graph, n_carry):
    return tuple(inputs[:n_carry])


def _run_while(carry, consts, cond_graph, body_graph, tape=None):
    carry = list(carry)
    while _evaluate(cond_graph, carry + consts)[0]:
        if tape is not None:
            tape.append(carry)
        carry = _evaluate(body_graph, carry + consts)
    return carry


def _while_impl(*inputs, cond_graph, body_graph, n_carry):
    return tuple(_run_while(inputs[:n_carry], list(inputs[n_carry:]), cond_graph, body_graph))


def _while_vjp(g, *inputs, out, cond_graph, body_graph, n_carry):
    cts = while_vjp_p.bind(*inputs, *g, cond_graph=cond_graph, body_graph=body_graph,
                           body_adjoint=adjoint_graph(body_graph), n_carry=n_carry)
    return tuple(_scatter_float(body_graph, cts))


def _while_jvp(t, *inputs, out, cond_graph, body_graph, n_carry):
    from ..passes.forward_mode import tangent_graph
    n_in = len(inputs)
    # Carry (primals, tangents of the carry); the consts' tangents ride along unchanged.
    body = _pair_body(tangent_graph(body_graph), n_carry, n_in)
    cond = _widen(cond_graph, [v.type for v in body.inputs], n_carry, n_in)
    outs = while_p.bind(*inputs[:n_carry], *t[:n_carry], *inputs[n_carry:], *t[n_carry:],
                        cond_graph=cond, body_graph=body, n_carry=2 * n_carry)
    return tuple(outs[n_carry:])


while_p = Primitive("while", infer=_while_type, impl=_while_impl, kind="control",
                    multiple_results=True, vjp=_while_vjp, jvp=_while_jvp)


def _while_vjp_type(*inputs, cond_graph, body_graph, body_adjoint, n_carry):
    return body_adjoint.out_types


def _while_vjp_impl(*args, cond_graph, body_graph, body_adjoint, n_carry):
    n_in = len(body_graph.inputs)
    carry, consts, g = list(args[:n_carry]), list(args[n_carry:n_in]), list(args[n_in:])
    tape = []
    _run_while(carry, consts, cond_graph, body_graph, tape)
    floats = _float_positions(body_graph)
    ct_carry = g
    ct_consts = {i: np.zeros(body_graph.inputs[i].type.shape, body_graph.inputs[i].type.dtype)
                 for i in floats if i >= n_carry}
    for saved in reversed(tape):
        cts = _evaluate(body_adjoint, saved + consts + ct_carry)
        ct_carry = [np.zeros(v.type.shape, v.type.dtype) for v in body_graph.inputs[:n_carry]]
        for i, ct in zip(floats, cts):
            if i < n_carry:
                ct_carry[i] = ct
            else:
                ct_consts[i] = ct_consts[i] + ct
    return tuple(ct_carry[i] if i < n_carry else ct_consts[i] for i in floats)


def _no_higher_order(*args, **kwargs):
    raise GraphadError("differentiating the reverse-mode derivative of a while_loop again "
                       "(second order through while_loop) is not supported yet")


while_vjp_p = Primitive("while_vjp", infer=_while_vjp_type, impl=_while_vjp_impl, kind="control",
                        multiple_results=True, vjp=_no_higher_order, jvp=_no_higher_order)


# ---- helpers for the forward-mode rule of while ----------------------------------

def _pair_body(tangent_body: Graph, n_carry, n_in) -> Graph:
    """Reorder a tangent graph (primals..., tangents...) -> (outs..., out tangents...) into a
    loop body over (carry, carry tangents, consts, const tangents) that also passes the
    const tangents through unchanged... the consts and their tangents are loop constants."""
    ins = tangent_body.inputs
    order = (list(ins[:n_carry]) + list(ins[n_in:n_in + n_carry]) + list(ins[n_carry:n_in])
             + list(ins[n_in + n_carry:]))
    return Graph(order, tangent_body.nodes, tangent_body.outputs)


def _widen(graph: Graph, types, n_carry, n_in) -> Graph:
    """The loop condition over the widened carry: it reads only the primal values."""
    from ..ir import Var
    ins = [Var(t) for t in types]
    mapping = {}
    primal = ins[:n_carry] + ins[2 * n_carry:2 * n_carry + (n_in - n_carry)]
    for old, new in zip(graph.inputs, primal):
        mapping[old] = new
    from ..ir import Node
    nodes = []
    for node in graph.nodes:
        outs = [type(v)(v.type) for v in node.outputs]
        nodes.append(Node(node.prim, [mapping[v] for v in node.inputs], outs, node.attrs, node.meta))
        mapping.update(zip(node.outputs, outs))
    return Graph(ins, nodes, [mapping[v] for v in graph.outputs])


PRIMITIVES = (cond_p, while_p, while_vjp_p)

"""Structured control flow: primitives whose bodies are sub-graphs.

cond:      outputs = (true_branch if pred else false_branch)(*operands)
while:     carry = init; while cond_graph(carry, consts): carry = body_graph(carry, consts)
while_vjp: reverse mode through `while`. It runs the loop forward recording
           each carry on a tape, then runs the body's adjoint graph backwards
           over the tape. The tape lives inside this one node, so a loop with a
           data-dependent trip count differentiates without the IR needing a
           value of unknown shape. Its own rules run while_vjp / while on the
           loop paired with its tangents, so every order of derivative works.
Operands of every node are the carried/branch values followed by the values
the bodies close over ("consts"), so sub-graphs are closed.
"""
from __future__ import annotations

import weakref

import numpy as np

from ..errors import GraphadError
from ..ir import Graph, TensorType, Var
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
    cond, body = _paired_loop(cond_graph, body_graph, n_carry)
    outs = while_p.bind(*_interleave(inputs, t, n_carry), cond_graph=cond, body_graph=body,
                        n_carry=2 * n_carry)
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


# Second order. Let L(x, c) be the loop (carry x, consts c), J = (J_x, J_c) its Jacobian, so
# while_vjp(x, c, g) = J^T g. The forward-mode rule's paired loop
# P(x, dx, c, dc) = (L, J_x dx + J_c dc) is a `while` too, and its while_vjp is
#   while_vjp_P(x, dx, c, dc; gy, gdy) = (J^T gy + grad_(x,c) <gdy, J (dx, dc)>,  J^T gdy).
# Second derivatives are symmetric, so grad_(x,c) <g, J d> is the derivative of J^T g along d:
# - jvp: the tangent of J^T g along (dx, dc, dg) is the (x, c) part of while_vjp_P at
#   (x, dx, c, dc) with (gy, gdy) = (dg, g).
# - vjp: for a cotangent h of J^T g, <h, J^T g> = <J h, g>: g's cotangent is P's tangent
#   output at (x, h, c), and the (x, c) cotangent is the (x, c) part of while_vjp_P at
#   (x, h, c) with (gy, gdy) = (0, g).
# Both rules emit while / while_vjp nodes again, so every order nests the same way.

def _paired_vjp(primals, tangents, gy, gdy, cond_graph, body_graph, n_carry):
    """(x, c) float cotangents of while_vjp of the paired loop, in while_vjp's output order."""
    cond, body = _paired_loop(cond_graph, body_graph, n_carry)
    cts = while_vjp_p.bind(*_interleave(primals, tangents, n_carry), *gy, *gdy,
                           cond_graph=cond, body_graph=body, body_adjoint=adjoint_graph(body),
                           n_carry=2 * n_carry)
    # The paired body's float inputs are x's, dx's, c's, dc's: keep the x and c blocks.
    floats = [v.type.is_float for v in body_graph.inputs]
    n_x, n_c = sum(floats[:n_carry]), sum(floats[n_carry:])
    return tuple(cts[:n_x]) + tuple(cts[2 * n_x:2 * n_x + n_c])


def _while_vjp_jvp(t, *args, out, cond_graph, body_graph, body_adjoint, n_carry):
    n_in = len(body_graph.inputs)
    return _paired_vjp(args[:n_in], t[:n_in], t[n_in:], args[n_in:], cond_graph, body_graph,
                       n_carry)


def _while_vjp_vjp(h, *args, out, cond_graph, body_graph, body_adjoint, n_carry):
    from .elementwise import zeros_of
    from .shape import broadcast_to
    n_in = len(body_graph.inputs)
    primals, g = args[:n_in], args[n_in:]
    # h covers the float inputs only; the others get a zero direction.
    h_full = [broadcast_to(zeros_of(x), x.shape) if ct is None else ct
              for x, ct in zip(primals, _scatter_float(body_graph, h))]
    cond, body = _paired_loop(cond_graph, body_graph, n_carry)
    jh = while_p.bind(*_interleave(primals, h_full, n_carry), cond_graph=cond, body_graph=body,
                      n_carry=2 * n_carry)[n_carry:]
    zero = [broadcast_to(zeros_of(x), x.shape) for x in primals[:n_carry]]
    cts = _paired_vjp(primals, h_full, zero, g, cond_graph, body_graph, n_carry)
    ct_g = [ct if v.type.is_float else None for ct, v in zip(jh, body_graph.inputs)]
    return (*_scatter_float(body_graph, cts), *ct_g)


while_vjp_p = Primitive("while_vjp", infer=_while_vjp_type, impl=_while_vjp_impl, kind="control",
                        multiple_results=True, vjp=_while_vjp_vjp, jvp=_while_vjp_jvp)


# ---- the paired loop: forward mode of while -------------------------------------

_PAIRED = weakref.WeakKeyDictionary()     # body graph -> {(cond graph, n_carry): paired loop}


def _paired_loop(cond_graph: Graph, body_graph: Graph, n_carry):
    """(cond, body) of the loop over (carry, carry tangents, consts, const tangents) that
    computes (L, J_x dx + J_c dc). Cached, so repeated rules share one graph (and adjoint)."""
    from ..passes.forward_mode import tangent_graph
    per_body = _PAIRED.setdefault(body_graph, {})
    key = (cond_graph, n_carry)
    if key not in per_body:
        tg = tangent_graph(body_graph)    # (primals..., tangents...) -> (outs..., out tangents...)
        n_in = len(body_graph.inputs)
        body = Graph(_interleave(tg.inputs[:n_in], tg.inputs[n_in:], n_carry), tg.nodes, tg.outputs)
        # The condition reads only the primal values; the tangent slots are unused inputs.
        ins = [Var(v.type) for v in body.inputs]
        ins[:n_carry] = cond_graph.inputs[:n_carry]
        ins[2 * n_carry:2 * n_carry + n_in - n_carry] = cond_graph.inputs[n_carry:]
        per_body[key] = (Graph(ins, cond_graph.nodes, cond_graph.outputs), body)
    return per_body[key]


def _interleave(primals, tangents, n_carry):
    """(x, c), (dx, dc) -> the paired loop's operand order (x, dx, c, dc)."""
    return [*primals[:n_carry], *tangents[:n_carry], *primals[n_carry:], *tangents[n_carry:]]


PRIMITIVES = (cond_p, while_p, while_vjp_p)

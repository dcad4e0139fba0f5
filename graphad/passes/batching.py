"""Batching as a graph transformation: carry a leading batch axis through a graph.

`batch_graph(graph, batched, size)` gives the graph that computes `graph` for
`size` values of the inputs in `batched` at once: those inputs gain a leading
axis of length `size`, and every value that depends on them carries it at
axis 0. Values that do not depend on them are computed once, unbatched.

This is how a Jacobian is one graph: the tangent (or cotangent) inputs of a
forward (reverse) mode graph are batched over the basis vectors, so the primal
part runs once and the derivative part runs as wider array operations (a
batched matrix product, not a Python loop of matrix-vector products).

Each rule takes the node's input values (batched ones with the batch axis at 0),
their flags, the batch size and the node, and returns the batched outputs.
A primitive with no rule (custom calls, LAPACK) is unrolled: the node is applied
to each batch element and the results are stacked.

Control flow is batched as JAX batches lax.while_loop / cond: the sub-graphs are
batched by `batch_graph` itself, and a control rule also says which outputs carry
the batch axis (a loop's unbatched carries stay unbatched). A predicate that
becomes batched turns `cond` into both branches and a per-lane select, and
`while` into a loop that runs while any lane's predicate holds, keeping finished
lanes' carries (the body runs on them too; its values there are discarded).
while_vjp's cotangents are typed like its primals, so its batched form gives every
float carry and const a copy per lane (see `_batch_while_vjp`).
"""
from __future__ import annotations

import weakref

from ..ir import Graph, TensorType
from ..prims import control as C
from ..prims import elementwise as E
from ..prims import indexing as I
from ..prims import linalg as L
from ..prims import reductions as R
from ..prims import shape as S
from ..trace import inline_graph, new_trace


def _expand(x, rank):
    """A batched value of per-example rank < `rank`, reshaped to broadcast like its primal."""
    inner = tuple(x.shape[1:])
    if len(inner) == rank:
        return x
    return S.reshape(x, (x.shape[0],) + (1,) * (rank - len(inner)) + inner)


def _materialize(x, size):
    """An unbatched value broadcast along a new leading batch axis."""
    shape = tuple(x.shape)
    return S.broadcast_to(S.reshape(x, (1,) + shape), (size,) + shape)


def _elementwise(args, flags, size, node):
    rank = node.outputs[0].type.ndim
    args = [_expand(a, rank) if f else a for a, f in zip(args, flags)]
    return (node.prim.bind(*args, **node.attrs),)


def _shift(axes):
    return tuple(a + 1 for a in axes)


def _reduction(args, flags, size, node):
    attrs = dict(node.attrs)
    if "axes" in attrs:
        attrs["axes"] = _shift(attrs["axes"])
    else:
        attrs["axis"] = attrs["axis"] + 1
    return (node.prim.bind(args[0], **attrs),)


def _reshape(args, flags, size, node):
    return (S.reshape(args[0], (size,) + node.attrs["shape"]),)


def _transpose(args, flags, size, node):
    return (S.transpose(args[0], (0,) + _shift(node.attrs["perm"])),)


def _broadcast_to(args, flags, size, node):
    shape = node.attrs["shape"]
    return (S.broadcast_to(_expand(args[0], len(shape)), (size,) + shape),)


def _concatenate(args, flags, size, node):
    args = [a if f else _materialize(a, size) for a, f in zip(args, flags)]
    return (S.concatenate(args, node.attrs["axis"] + 1),)


def _slice(args, flags, size, node):
    return (S.slice_(args[0], ((0, 1, size),) + node.attrs["spec"]),)


def _scatter_slice(args, flags, size, node):
    spec, shape = node.attrs["spec"], node.attrs["shape"]
    return (S.scatter_slice(args[0], ((0, 1, size),) + spec, (size,) + shape),)


def _dot_general(args, flags, size, node):
    a, b = args
    (ca, cb), (ba, bb) = node.attrs["contract"], node.attrs["batch"]
    if flags[0] and flags[1]:        # the batch axis becomes a shared batch dimension
        return (L.dot_general(a, b, (_shift(ca), _shift(cb)), ((0,) + _shift(ba), (0,) + _shift(bb))),)
    if flags[0]:                     # the batch axis is a's first free axis
        out = L.dot_general(a, b, (_shift(ca), cb), (_shift(ba), bb))
        pos = len(ba)
    else:                            # ... or b's first free axis, after a's free axes
        out = L.dot_general(a, b, (ca, _shift(cb)), (ba, _shift(bb)))
        pos = len(ba) + (a.ndim - len(ca) - len(ba))
    perm = (pos,) + tuple(i for i in range(out.ndim) if i != pos)
    return (S.transpose(out, perm),)


def _gather(args, flags, size, node):
    (x, idx), axis = args, node.attrs["axis"]
    if flags[1]:
        if flags[0]:
            return _unrolled(args, flags, size, node)
        out = I.gather(x, idx, axis)              # the batch axis lands where idx's axes go
        perm = (axis,) + tuple(i for i in range(out.ndim) if i != axis)
        return (S.transpose(out, perm),)
    return (I.gather(x, idx, axis + 1),)


def _scatter_add(args, flags, size, node):
    if flags[1]:
        return _unrolled(args, flags, size, node)
    return (I.scatter_add(args[0], args[1], node.attrs["axis"] + 1, node.attrs["size"]),)


def _argsort(args, flags, size, node):
    return (I.argsort(args[0], node.attrs["axis"] + 1),)


def _lane(x, i):
    """Batch element `i` of a batched value."""
    return S.reshape(S.slice_(x, ((i, 1, 1),) + tuple((0, 1, d) for d in x.shape[1:])), x.shape[1:])


def _unrolled(args, flags, size, node):
    """Apply the node to each batch element and stack: correct for any primitive."""
    per_output = [[] for _ in node.outputs]
    for i in range(size):
        elems = [_lane(a, i) if f else a for a, f in zip(args, flags)]
        out = node.prim.bind(*elems, **node.attrs)
        for acc, o in zip(per_output, out if node.prim.multiple_results else (out,)):
            acc.append(S.reshape(o, (1,) + tuple(o.shape)))
    return tuple(S.concatenate(acc, 0) for acc in per_output)


RULES = {
    L.dot_general_p: _dot_general,
    S.reshape_p: _reshape, S.transpose_p: _transpose, S.broadcast_to_p: _broadcast_to,
    S.concatenate_p: _concatenate, S.slice_p: _slice, S.scatter_slice_p: _scatter_slice,
    I.gather_p: _gather, I.scatter_add_p: _scatter_add, I.argsort_p: _argsort,
}
# Elementwise primitives broadcast implicitly and reductions take sorted `axes`
# (or one `axis`), so one rule serves each whole family.
KIND_RULES = {"elementwise": _elementwise, "reduction": _reduction}


# ---- control flow: sub-graphs batched by batch_graph itself -----------------------
# These rules return (outputs, per output: whether it carries the batch axis).

def _positions(flags):
    return [i for i, f in enumerate(flags) if f]


def _batch_sub(graph, in_flags, size, out_flags):
    """`graph` batched over the inputs flagged, its outputs batched exactly where
    `out_flags` says (an unbatched output that must be batched is materialized)."""
    big, flags = batch_graph(graph, _positions(in_flags), size)
    assert not any(f and not w for f, w in zip(flags, out_flags)), "output batched unexpectedly"
    if tuple(flags) == tuple(out_flags):
        return big
    return _subgraph(big.in_types, lambda ins: [
        _materialize(o, size) if w and not f else o
        for o, f, w in zip(inline_graph(big, ins), flags, out_flags)])


def _subgraph(in_types, fn):
    """The graph of `fn` (traced values -> list of outputs) on inputs of `in_types`."""
    with new_trace() as trace:
        outs = fn([trace.new_input(t) for t in in_types])
        b = trace.builder
        return Graph(b.inputs, b.nodes, [trace.var_of(o) for o in outs])


def _carry_fixpoint(body, carry_flags, const_flags, size):
    """Which carries are batched: those given, plus any the body makes batched (a carry
    whose next value is batched must be batched from the start)."""
    carry = list(carry_flags)
    while True:
        _, out = batch_graph(body, _positions(carry + list(const_flags)), size)
        grown = [c or o for c, o in zip(carry, out)]
        if grown == carry:
            return carry
        carry = grown


def _predicate_batched(cond_graph, in_flags, size) -> bool:
    return batch_graph(cond_graph, _positions(in_flags), size)[1][0]


def _any_lane_loop(cond_graph, body, in_flags, size):
    """(cond, body) of the loop over all-batched carries that runs while any lane's
    predicate holds; the body keeps the carries of lanes whose predicate is false.
    (The body recomputes the per-lane predicate: a loop carries no values but its carries.)"""
    cond_b, _ = batch_graph(cond_graph, _positions(in_flags), size)
    n = len(body.outputs)

    def masked_body(ins):
        (live,) = inline_graph(cond_b, ins)
        new = inline_graph(body, ins)
        return [E.select(_expand(live, len(c.shape) - 1), x, c) for x, c in zip(new, ins[:n])]

    def any_live(ins):
        return [R.reduce_max_p.bind(inline_graph(cond_b, ins)[0], axes=(0,))]

    return _subgraph(body.in_types, any_live), _subgraph(body.in_types, masked_body)


def _lane0_cond(cond_graph, in_flags, size):
    """The predicate on the first lane of the batched inputs: for inputs that are
    materialized copies, and a predicate that reads no truly batched value."""
    types = [TensorType((size,) + t.shape, t.dtype) if f else t
             for t, f in zip(cond_graph.in_types, in_flags)]
    return _subgraph(types, lambda ins: inline_graph(
        cond_graph, [_lane(x, 0) if f else x for x, f in zip(ins, in_flags)]))


def _batch_while(args, flags, size, node):
    """Carries batched to a fixpoint; an unbatched predicate keeps a plain loop."""
    n, cond_graph, body = node.attrs["n_carry"], node.attrs["cond_graph"], node.attrs["body_graph"]
    consts = list(flags[n:])
    carry = _carry_fixpoint(body, flags[:n], consts, size)
    batched_pred = _predicate_batched(cond_graph, carry + consts, size)
    if batched_pred:                  # lanes stop at different trips: every carry differs
        carry = [True] * n
    body_b = _batch_sub(body, carry + consts, size, carry)
    if batched_pred:
        cond_b, body_b = _any_lane_loop(cond_graph, body_b, carry + consts, size)
    else:
        cond_b, _ = batch_graph(cond_graph, _positions(carry + consts), size)
    init = [_materialize(a, size) if c and not f else a for a, f, c in zip(args, flags, carry)]
    outs = C.while_p.bind(*init, *args[n:], cond_graph=cond_b, body_graph=body_b, n_carry=n)
    return outs, carry


def _batch_while_vjp(args, flags, size, node):
    """while_vjp's cotangents are typed like its primals, so a lane's cotangent needs a
    lane of every float carry and const: those are materialized (copies, lanes all
    equal unless truly batched). With a predicate that reads no truly batched value the
    loop keeps one trip count, read from the first lane; otherwise it is the any-lane
    loop, whose finished lanes' adjoint is the identity (select)."""
    n, cond_graph, body = node.attrs["n_carry"], node.attrs["cond_graph"], node.attrs["body_graph"]
    n_in = len(body.inputs)
    floats = [t.is_float for t in body.in_types]
    truly = _carry_fixpoint(body, flags[:n], flags[n:n_in], size)
    batched_pred = _predicate_batched(cond_graph, truly + list(flags[n:n_in]), size)
    consts = [f or fl for f, fl in zip(flags[n:n_in], floats[n:])]
    if batched_pred:
        carry = [True] * n
    else:
        carry = _carry_fixpoint(body, [t or fl for t, fl in zip(truly, floats[:n])], consts, size)
    in_flags = carry + consts
    body_b = _batch_sub(body, in_flags, size, carry)
    if batched_pred:
        cond_b, body_b = _any_lane_loop(cond_graph, body_b, in_flags, size)
        adjoint = C.adjoint_graph(body_b)
    else:
        cond_b = _lane0_cond(cond_graph, in_flags, size)
        # Batch the body's adjoint, not the adjoint of the batched body: a cond on the lane
        # copies becomes a select of cotangents, so the untaken branch's NaN derivative is
        # dropped (differentiating a select of values would let it through).
        adj = C.adjoint_graph(body)
        adjoint = _batch_sub(adj, in_flags + carry, size, [True] * len(adj.outputs))
    operands = [_materialize(a, size) if want and not f else a
                for a, f, want in zip(args, flags, in_flags + carry)]
    # A non-float carry has no cotangent (while_vjp ignores its seed): keep it unbatched.
    operands[n_in:] = [_lane(g, 0) if f and not c else g
                       for g, f, c in zip(operands[n_in:], flags[n_in:], carry)]
    outs = C.while_vjp_p.bind(*operands, cond_graph=cond_b, body_graph=body_b,
                              body_adjoint=adjoint, n_carry=n)
    return outs, (True,) * len(outs)


def _batch_cond(args, flags, size, node):
    """Both branches batched; a batched predicate runs both and selects per lane."""
    (pred, *operands), (pred_flag, *op_flags) = args, flags
    branches = [node.attrs["true_branch"], node.attrs["false_branch"]]
    out_flags = [any(fs) for fs in zip(*(batch_graph(b, _positions(op_flags), size)[1]
                                          for b in branches))]
    if not pred_flag:
        t, f = (_batch_sub(b, op_flags, size, out_flags) for b in branches)
        return C.cond_p.bind(pred, *operands, true_branch=t, false_branch=f), out_flags
    t, f = (inline_graph(batch_graph(b, _positions(op_flags), size)[0], operands) for b in branches)
    outs = [E.select(_expand(pred, len(v.type.shape)), x, y)
            for x, y, v in zip(t, f, node.outputs)]
    return outs, (True,) * len(outs)


CONTROL_RULES = {C.while_p: _batch_while, C.while_vjp_p: _batch_while_vjp, C.cond_p: _batch_cond}


def batch_rule(prim):
    rule = RULES.get(prim) or KIND_RULES.get(prim.kind)
    return _unrolled if rule is None or prim.multiple_results else rule


_BATCHED = weakref.WeakKeyDictionary()      # graph -> {(batched, size): result}


def batch_graph(graph: Graph, batched, size: int):
    """(batched graph, per output: whether it carries the batch axis). Memoized: the
    control rules batch the same loop body several times (carry fixpoint, predicate,
    body, adjoint)."""
    key = (frozenset(batched), size)
    known = _BATCHED.setdefault(graph, {})
    if key not in known:
        known[key] = _batch_graph(graph, key[0], size)
    return known[key]


def _batch_graph(graph: Graph, batched, size: int):
    with new_trace() as trace:
        ins = []
        for i, v in enumerate(graph.inputs):
            t = TensorType((size,) + v.type.shape, v.type.dtype) if i in batched else v.type
            ins.append(trace.new_input(t))
        env = dict(zip(graph.inputs, ins))
        is_batched = {graph.inputs[i] for i in batched}
        for node in graph.nodes:
            args = [env[v] for v in node.inputs]
            flags = [v in is_batched for v in node.inputs]
            if any(flags) and node.prim in CONTROL_RULES:
                outs, out_flags = CONTROL_RULES[node.prim](args, flags, size, node)
                is_batched.update(v for v, f in zip(node.outputs, out_flags) if f)
            elif any(flags):
                outs = batch_rule(node.prim)(args, flags, size, node)
                is_batched.update(node.outputs)
            else:
                out = node.prim.bind(*args, **node.attrs)
                outs = out if node.prim.multiple_results else (out,)
            env.update(zip(node.outputs, outs))
        outs = [trace.var_of(env[v]) for v in graph.outputs]
        b = trace.builder
        return Graph(b.inputs, b.nodes, outs), tuple(v in is_batched for v in graph.outputs)

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
A primitive with no rule (control flow, custom calls, LAPACK) is unrolled: the
node is applied to each batch element and the results are stacked.
"""
from __future__ import annotations

from ..ir import Graph, TensorType
from ..prims import indexing as I
from ..prims import linalg as L
from ..prims import shape as S
from ..trace import new_trace


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


def _unrolled(args, flags, size, node):
    """Apply the node to each batch element and stack: correct for any primitive."""
    per_output = [[] for _ in node.outputs]
    for i in range(size):
        elems = [S.reshape(S.slice_(a, ((i, 1, 1),) + tuple((0, 1, d) for d in a.shape[1:])),
                           a.shape[1:]) if f else a for a, f in zip(args, flags)]
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


def batch_rule(prim):
    rule = RULES.get(prim) or KIND_RULES.get(prim.kind)
    return _unrolled if rule is None or prim.multiple_results else rule


def batch_graph(graph: Graph, batched, size: int):
    """(batched graph, per output: whether it carries the batch axis)."""
    batched = set(batched)
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
            if any(flags):
                outs = batch_rule(node.prim)(args, flags, size, node)
                is_batched.update(node.outputs)
            else:
                out = node.prim.bind(*args, **node.attrs)
                outs = out if node.prim.multiple_results else (out,)
            env.update(zip(node.outputs, outs))
        outs = [trace.var_of(env[v]) for v in graph.outputs]
        b = trace.builder
        return Graph(b.inputs, b.nodes, outs), tuple(v in is_batched for v in graph.outputs)

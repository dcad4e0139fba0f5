"""graphad.cond, graphad.while_loop, graphad.fori_loop: control flow in the graph.

Each traces its branch/body functions into closed sub-graphs (values they
close over become extra operands) and binds one control primitive. With no
traced values involved they simply run, so the same code works eagerly.
"""
from __future__ import annotations

import numpy as np

from . import numpy as gnp
from .errors import GraphadError
from .ir import Graph, TensorType, Var
from .prims.control import cond_p, while_p
from .trace import trace_function
from .tree import tree_flatten, tree_unflatten


def _leaf_paths(treedef, prefix=""):
    """Human-readable paths of a tree's leaves, e.g. "[1]['w']"."""
    leaves, _ = tree_flatten(tree_unflatten(treedef, range(treedef.num_leaves)))
    paths = [None] * treedef.num_leaves

    def walk(node, path):
        if isinstance(node, dict):
            for k in sorted(node):
                walk(node[k], f"{path}[{k!r}]")
        elif isinstance(node, (list, tuple)):
            for i, c in enumerate(node):
                walk(c, f"{path}[{i}]")
        elif node is not None:
            paths[node] = path or "the value"
    walk(tree_unflatten(treedef, range(treedef.num_leaves)), prefix)
    return paths


def _check_same(what, a_name, a_tree, a_types, b_name, b_tree, b_types):
    if a_tree != b_tree:
        raise GraphadError(f"{what}: {a_name} returns a structure {a_tree} but {b_name} returns "
                           f"{b_tree}; they must match")
    for path, ta, tb in zip(_leaf_paths(a_tree), a_types, b_types):
        if ta != tb:
            raise GraphadError(f"{what}: leaf {path} is {ta} in {a_name} but {tb} in {b_name}; "
                               "shapes and dtypes must match")


def _close(traced_fns):
    """Give traced functions one shared list of closed-over values.

    Returns (graphs taking (leaves..., consts...), the outer values for consts)."""
    consts, index = [], {}
    for tf in traced_fns:
        for outer in tf.captured:
            if _identity(outer) not in index:
                index[_identity(outer)] = len(consts)
                consts.append(outer)
    graphs = []
    for tf in traced_fns:
        n_leaves = len(tf.graph.inputs) - len(tf.captured)
        extra = [Var(TensorType(tuple(c.shape), c.dtype)) for c in consts]
        for outer, inner in zip(tf.captured, tf.graph.inputs[n_leaves:]):
            extra[index[_identity(outer)]] = inner
        graphs.append(Graph(list(tf.graph.inputs[:n_leaves]) + extra, tf.graph.nodes, tf.graph.outputs))
    return graphs, consts


def _identity(outer):
    """A captured value's identity: a tracer's var, or an eager box itself (it has no var)."""
    var = getattr(outer, "_var", None)
    return id(outer) if var is None else var


def _pred(pred, what):
    pred = gnp.asarray(pred)
    if pred.shape != ():
        raise GraphadError(f"{what}: the predicate must be a scalar, got shape {pred.shape}")
    return pred if pred.dtype == np.bool_ else gnp.not_equal(pred, 0)


def cond(pred, true_fn, false_fn, *operands):
    """`true_fn(*operands)` if `pred` else `false_fn(*operands)`, as one graph node.
    Both branches must return the same structure, shapes and dtypes."""
    pred = _pred(pred, "cond")
    leaves, _ = tree_flatten(operands)
    t = trace_function(true_fn, operands)
    f = trace_function(false_fn, operands)
    _check_same("cond", "true_fn", t.out_tree, t.graph.out_types, "false_fn", f.out_tree,
                f.graph.out_types)
    (gt, gf), consts = _close([t, f])
    outs = cond_p.bind(pred, *leaves, *consts, true_branch=gt, false_branch=gf)
    return tree_unflatten(t.out_tree, outs)


def while_loop(cond_fn, body_fn, init):
    """`carry = init; while cond_fn(carry): carry = body_fn(carry)`, as one graph node.
    Differentiable in both modes and to any order, even with a data-dependent trip count
    (reverse mode tapes the carries)."""
    leaves, tree = tree_flatten(init)
    c = trace_function(cond_fn, (init,))
    b = trace_function(body_fn, (init,))
    out = c.graph.outputs
    if len(out) != 1 or out[0].type.shape != ():
        raise GraphadError(f"while_loop: cond_fn must return a scalar, got {c.out_tree} of "
                           f"{[str(v.type) for v in out]}")
    _check_same("while_loop", "init", tree, c.graph.in_types[:len(leaves)], "body_fn", b.out_tree,
                b.graph.out_types)
    (gc, gb), consts = _close([c, b])
    if gc.outputs[0].type.dtype != np.bool_:
        gc = _as_bool_graph(gc)
    outs = while_p.bind(*leaves, *consts, cond_graph=gc, body_graph=gb, n_carry=len(leaves))
    return tree_unflatten(tree, outs)


def _as_bool_graph(graph: Graph) -> Graph:
    """cond_fn returned a number: loop while it is nonzero."""
    return trace_function(lambda *xs: gnp.not_equal(_call(graph, xs), 0),
                          tuple(np.zeros(v.type.shape, v.type.dtype) for v in graph.inputs)).graph


def _call(graph, xs):
    from .trace import inline_graph
    return inline_graph(graph, list(xs))[0]


def fori_loop(lower, upper, body_fn, init):
    """`for i in range(lower, upper): carry = body_fn(i, carry)`, as one graph node."""
    def cond_fn(state):
        return state[0] < upper

    def body_fn_(state):
        i, carry = state
        return i + 1, body_fn(i, carry)

    _, carry = while_loop(cond_fn, body_fn_, (np.asarray(lower, np.int64), init))
    return carry

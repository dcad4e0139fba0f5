"""Forward mode, Jacobians and Hessians as `Staged` transformations.

Each transformation maps a traced function to a graph (see api.Staged), so
they nest with grad and compile by inlining. A Jacobian is one graph: the
tangents (jacfwd) or output cotangents (jacrev) of all basis vectors travel
together along a leading batch axis (passes/batching.py), so the primal part
runs once and a Jacobian is one compiled call, never a Python loop.

Layout follows JAX: the Jacobian of an output leaf of shape `o` with respect to
an input leaf of shape `s` has shape `o + s`; the result is the output's pytree
with each leaf replaced by the (tuple of) argument pytree(s).
"""
from __future__ import annotations

import numpy as np

from . import numpy as gnp
from .api import Staged, _identity, transformed
from .errors import GraphadError
from .ir import Graph
from .passes.batching import batch_graph
from .passes.dce import dce
from .passes.forward_mode import forward_mode
from .passes.inline_custom import inline_custom_calls
from .passes.reverse_mode import reverse_mode
from .prims import shape as S
from .trace import inline_graph, new_trace
from .tree import TreeDef, tree_flatten, tree_unflatten


def _argnum_tuple(argnums):
    return (argnums,) if isinstance(argnums, int) else tuple(argnums)


def _wrt(tf, argnums, what):
    """Leaf indices of the arguments `argnums` and the pytree of their Jacobian blocks."""
    wrt, trees = [], []
    for a in _argnum_tuple(argnums):
        if a not in tf.arg_ranges:
            raise GraphadError(f"{what}: argnums={a}, but the function was called with "
                               f"{len(tf.arg_trees)} arguments, or that argument is static")
        start, stop = tf.arg_ranges[a]
        for i in range(start, stop):
            t = tf.graph.inputs[i].type
            if not t.is_float:
                raise GraphadError(f"{what} with respect to argument {a}: it has a leaf of dtype "
                                   f"{t.dtype}; derivatives need float inputs (write 1.0 rather "
                                   "than 1, or astype(float))")
        wrt.extend(range(start, stop))
        trees.append(tf.arg_trees[a])
    tree = trees[0] if isinstance(argnums, int) else TreeDef("tuple", None, tuple(trees))
    return wrt, tree


def _check_float_outputs(graph, what):
    for j, v in enumerate(graph.outputs):
        if not v.type.is_float:
            raise GraphadError(f"{what}: output leaf {j} has dtype {v.type.dtype}; Jacobians "
                               "need float outputs")


def _nest(outer: TreeDef, inner: TreeDef) -> TreeDef:
    """`outer` with every leaf replaced by `inner`."""
    if outer.kind == "leaf":
        return inner
    return TreeDef(outer.kind, outer.aux, tuple(_nest(c, inner) for c in outer.children))


def _basis(types):
    """Per type, its block of the identity over all the types' elements: (n,) + type.shape."""
    sizes = [t.size for t in types]
    n, blocks, start = sum(sizes), [], 0
    for t, size in zip(types, sizes):
        block = np.zeros((n, size), t.dtype)
        block[start:start + size] = np.eye(size, dtype=block.dtype)
        blocks.append(block.reshape((n,) + t.shape))
        start += size
    return blocks, n


def _batched(graph, batched, basis, n, n_plain, finish) -> Graph:
    """Inline `graph` with its `batched` inputs fed the basis (other inputs stay inputs);
    every output but the first `n_plain` comes with the batch axis (broadcast where it does
    not depend on it). The graph's outputs are `finish(those batched outputs)`."""
    if n == 1:    # one basis vector: no batch axis to carry, just a leading 1
        big, flags = graph, (False,) * len(graph.outputs)
        basis = [b.reshape(b.shape[1:]) for b in basis]
    else:
        big, flags = batch_graph(graph, batched, n)
    with new_trace() as trace:
        basis_it = iter(basis)
        args = [next(basis_it) if i in batched else trace.new_input(v.type)
                for i, v in enumerate(graph.inputs)]
        outs = inline_graph(big, args)[n_plain:]
        for k, (o, flag) in enumerate(zip(outs, flags[n_plain:])):
            if not flag:
                outs[k] = S.broadcast_to(S.reshape(o, (1,) + tuple(o.shape)), (n,) + tuple(o.shape))
        b = trace.builder
        return dce(Graph(b.inputs, b.nodes, [trace.var_of(v) for v in finish(outs)]))


def _rows(x, start, count):
    spec = ((start, 1, count),) + tuple((0, 1, d) for d in x.shape[1:])
    return S.slice_(x, spec)


class _Jvp:
    """(primals..., tangents...) -> (out, tangent_out); the first `n` arguments are primals."""

    def __init__(self, n):
        self.n = n

    def __call__(self, tf):
        n_primal_leaves = sum(tf.arg_ranges[a][1] - tf.arg_ranges[a][0] for a in range(self.n))
        wrt = [i for i in range(n_primal_leaves) if tf.graph.inputs[i].type.is_float]
        graph = forward_mode(tf.graph, wrt, [n_primal_leaves + i for i in wrt])
        return dce(graph), TreeDef("tuple", None, (tf.out_tree, tf.out_tree))


class _JacFwd:
    def __init__(self, argnums):
        self.argnums = argnums

    def __call__(self, tf):
        wrt, in_tree = _wrt(tf, self.argnums, "jacfwd")
        _check_float_outputs(tf.graph, "jacfwd")
        n_in, n_out = len(tf.graph.inputs), len(tf.graph.outputs)
        fwd = forward_mode(tf.graph, wrt)
        in_types = [tf.graph.inputs[i].type for i in wrt]
        basis, n = _basis(in_types)

        def blocks(tangents):
            jac = []
            for t, v in zip(tangents, tf.graph.outputs):          # t: (n,) + o
                start = 0
                for s in in_types:                                # block: s + o -> o + s
                    block = S.reshape(_rows(t, start, s.size), s.shape + v.type.shape)
                    k, m = len(s.shape), len(v.type.shape)
                    jac.append(S.transpose(block, tuple(range(k, k + m)) + tuple(range(k))))
                    start += s.size
            return jac

        graph = _batched(fwd, set(range(n_in, n_in + len(wrt))), basis, n, n_out, blocks)
        return graph, _nest(tf.out_tree, in_tree)


class _JacRev:
    def __init__(self, argnums):
        self.argnums = argnums

    def __call__(self, tf):
        wrt, in_tree = _wrt(tf, self.argnums, "jacrev")
        _check_float_outputs(tf.graph, "jacrev")
        n_in, n_out = len(tf.graph.inputs), len(tf.graph.outputs)
        rev = inline_custom_calls(reverse_mode(tf.graph, wrt, seed_inputs=True))
        out_types = tf.graph.out_types
        basis, m = _basis(out_types)

        def blocks(cotangents):
            jac, start = [], 0
            for o in out_types:
                for ct, i in zip(cotangents, wrt):                # ct: (m,) + s
                    s = tf.graph.inputs[i].type.shape
                    jac.append(S.reshape(_rows(ct, start, o.size), o.shape + s))
                start += o.size
            return jac

        graph = _batched(rev, set(range(n_in, n_in + n_out)), basis, m, n_out, blocks)
        return graph, _nest(tf.out_tree, in_tree)


def jvp(fun, primals, tangents):
    """Forward mode: `(fun(*primals), the derivative of fun at primals along tangents)`."""
    primals, tangents = tuple(primals), tuple(tangents)
    p_leaves, p_tree = tree_flatten(primals)
    t_leaves, t_tree = tree_flatten(tangents)
    if p_tree != t_tree:
        raise GraphadError(f"jvp: the tangents have structure {t_tree}, the primals {p_tree}")
    cast = []
    for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        if tuple(gnp.shape(p)) != tuple(gnp.shape(t)):
            raise GraphadError(f"jvp: tangent leaf {i} has shape {tuple(gnp.shape(t))}, its primal "
                               f"{tuple(gnp.shape(p))}")
        cast.append(gnp.astype(t, gnp.asarray(p).dtype))    # tangents are typed like primals
    tangents = tree_unflatten(t_tree, cast)
    n = len(primals)
    inner = fun.fun if isinstance(fun, Staged) and fun.transform is _identity else fun
    staged = transformed(fun, _Jvp(n))
    staged.fun = lambda *args: inner(*args[:n])
    return staged(*primals, *tangents)


def jacfwd(fun, argnums=0):
    """The Jacobian of `fun` by forward mode: one batched pass over all input directions."""
    return transformed(fun, _JacFwd(argnums))


def jacrev(fun, argnums=0):
    """The Jacobian of `fun` by reverse mode: one batched pass over all output directions."""
    return transformed(fun, _JacRev(argnums))


jacobian = jacrev


def hessian(fun, argnums=0):
    """Second derivatives: forward mode over reverse mode (jacfwd of jacrev)."""
    return jacfwd(jacrev(fun, argnums), argnums)

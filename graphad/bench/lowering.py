"""Run a graphad graph with another framework's operations, for the peer columns.

The peers (JAX, HIPS autograd, PyTorch) differentiate the same computation the
user wrote: the function is traced once with graphad, and its forward graph is
replayed op by op with the peer's own functions, which the peer then
differentiates (and, for JAX, compiles) its own way. One table per peer maps a
primitive name to `fn(*inputs, **attrs)`; a graph using a primitive a table
lacks cannot be lowered, and that peer is skipped with the primitive's name.
"""
from __future__ import annotations

import math

import numpy as np

from ..prims.linalg import _free
from ..prims.shape import as_index


class NotLowerable(Exception):
    """The graph uses an operation the peer's table has no entry for."""


def lower(graph, table, constant):
    """A function of the graph's inputs returning its outputs, built from `table`.
    `constant(array)` converts a constant to the peer's array type once."""
    slot = {v: i for i, v in enumerate(graph.inputs)}
    steps, consts = [], {}
    for node in graph.nodes:
        for v in node.outputs:
            slot[v] = len(slot)
        if node.prim.name == "constant":
            consts[slot[node.outputs[0]]] = constant(node.attrs["value"].value)
            continue
        fn = table.get(node.prim.name)
        if fn is None:
            raise NotLowerable(f"no lowering for the primitive {node.prim.name!r}")
        steps.append((fn, [slot[v] for v in node.inputs], [slot[v] for v in node.outputs],
                      node.attrs, node.prim.multiple_results))
    outputs = [slot[v] for v in graph.outputs]
    size = len(slot)

    def run(*inputs):
        env = [None] * size
        env[:len(inputs)] = inputs
        for i, c in consts.items():
            env[i] = c
        for fn, ins, outs, attrs, multiple in steps:
            out = fn(*[env[i] for i in ins], **attrs)
            if multiple:
                for i, o in zip(outs, out):
                    env[i] = o
            else:
                env[outs[0]] = out
        return [env[i] for i in outputs]

    return run


def _dot_general(transpose, reshape, matmul):
    """dot_general from transpose / reshape / matmul, as graphad's reference does it:
    operands to (batch, free, contract) and (batch, contract, free), then one matmul."""
    def dot_general(a, b, *, contract, batch):
        (ca, cb), (ba, bb) = contract, batch
        fa, fb = _free(a.ndim, ca, ba), _free(b.ndim, cb, bb)
        dims = lambda x, axes: tuple(x.shape[i] for i in axes)  # noqa: E731
        out_shape = dims(a, ba) + dims(a, fa) + dims(b, fb)
        lead = (math.prod(dims(a, ba)),) if ba else ()
        m, n, k = math.prod(dims(a, fa)), math.prod(dims(b, fb)), math.prod(dims(a, ca))
        pa, pb = ba + fa + ca, bb + cb + fb
        if pa != tuple(range(a.ndim)):
            a = transpose(a, pa)
        if pb != tuple(range(b.ndim)):
            b = transpose(b, pb)
        if tuple(a.shape) != lead + (m, k):
            a = reshape(a, lead + (m, k))
        if tuple(b.shape) != lead + (k, n):
            b = reshape(b, lead + (k, n))
        out = matmul(a, b)
        return out if tuple(out.shape) == out_shape else reshape(out, out_shape)
    return dot_general


def _numpy_like(xp, special):
    """The table shared by numpy-like namespaces (jax.numpy, autograd.numpy)."""
    table = {name: getattr(xp, name) for name in (
        "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin",
        "arccos", "arctan", "sqrt", "square", "abs", "reciprocal", "sign", "floor", "ceil",
        "logical_not", "maximum", "minimum", "arctan2", "logical_and", "logical_or")}
    table.update(
        neg=xp.negative, round=xp.round, add=xp.add, sub=xp.subtract, mul=xp.multiply,
        div=xp.divide, pow=xp.power, eq=xp.equal, ne=xp.not_equal, lt=xp.less, le=xp.less_equal,
        gt=xp.greater, ge=xp.greater_equal, select=xp.where,
        sigmoid=special["sigmoid"],
        convert=lambda x, *, dtype: x.astype(dtype),
        stop_gradient=special["stop_gradient"],
        reduce_sum=lambda x, *, axes: xp.sum(x, axis=axes),
        reduce_max=lambda x, *, axes: xp.max(x, axis=axes),
        reduce_min=lambda x, *, axes: xp.min(x, axis=axes),
        reduce_prod=lambda x, *, axes: xp.prod(x, axis=axes),
        logsumexp=lambda x, *, axes: special["logsumexp"](x, axis=axes),
        argmax=lambda x, *, axis: xp.argmax(x, axis=axis),
        argmin=lambda x, *, axis: xp.argmin(x, axis=axis),
        reshape=lambda x, *, shape: xp.reshape(x, shape),
        transpose=lambda x, *, perm: xp.transpose(x, perm),
        broadcast_to=lambda x, *, shape: xp.broadcast_to(x, shape),
        concatenate=lambda *xs, axis: xp.concatenate(xs, axis=axis),
        slice=lambda x, *, spec: x[as_index(spec)],
    )
    return table


def jax_table():
    import jax
    import jax.numpy as jnp
    from jax import lax
    table = _numpy_like(jnp, {"sigmoid": jax.nn.sigmoid, "stop_gradient": lax.stop_gradient,
                              "logsumexp": jax.nn.logsumexp})
    table["dot_general"] = lambda a, b, *, contract, batch: lax.dot_general(a, b, (contract, batch))
    table["scatter_slice"] = (
        lambda g, *, spec, shape: jnp.zeros(shape, g.dtype).at[as_index(spec)].set(g))
    return table, lambda value: value       # numpy constants become literals under jit


def autograd_table():
    import autograd.numpy as anp
    from autograd.scipy.special import expit, logsumexp
    from autograd.tracer import getval
    table = _numpy_like(anp, {"sigmoid": expit, "stop_gradient": getval, "logsumexp": logsumexp})
    table["dot_general"] = _dot_general(anp.transpose, anp.reshape, anp.matmul)
    return table, lambda value: value


def torch_table():
    import torch
    table = {name: getattr(torch, name) for name in (
        "neg", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "sinh", "cosh",
        "sqrt", "square", "abs", "reciprocal", "sigmoid", "sign", "floor", "ceil", "round",
        "logical_not", "add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne",
        "lt", "le", "gt", "ge", "logical_and", "logical_or")}

    def torch_dtype(dtype):
        return torch.from_numpy(np.zeros(0, dtype)).dtype

    def reduce_prod(x, *, axes):
        for axis in sorted(axes, reverse=True):
            x = torch.prod(x, dim=axis)
        return x

    def slice_(x, *, spec):
        if any(step < 0 for _, step, _ in spec):
            raise NotLowerable("PyTorch tensors do not support negative slice steps")
        return x[as_index(spec)]

    table.update(
        arcsin=torch.asin, arccos=torch.acos, arctan=torch.atan, arctan2=torch.atan2,
        select=torch.where,
        convert=lambda x, *, dtype: x.to(torch_dtype(dtype)),
        stop_gradient=lambda x: x.detach(),
        reduce_sum=lambda x, *, axes: torch.sum(x, dim=axes),
        reduce_max=lambda x, *, axes: torch.amax(x, dim=axes),
        reduce_min=lambda x, *, axes: torch.amin(x, dim=axes),
        reduce_prod=reduce_prod,
        logsumexp=lambda x, *, axes: torch.logsumexp(x, dim=axes),
        argmax=lambda x, *, axis: torch.argmax(x, dim=axis),
        argmin=lambda x, *, axis: torch.argmin(x, dim=axis),
        reshape=lambda x, *, shape: torch.reshape(x, shape),
        transpose=lambda x, *, perm: torch.permute(x, perm),
        broadcast_to=lambda x, *, shape: torch.broadcast_to(x, shape),
        concatenate=lambda *xs, axis: torch.cat(xs, dim=axis),
        slice=slice_,
        dot_general=_dot_general(torch.permute, torch.reshape, torch.matmul),
    )
    return table, lambda value: torch.tensor(np.array(value))

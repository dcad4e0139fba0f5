"""Nodes outside fused regions, lowered to whole-array Numba code, one function each.

A lowering takes the node, the expressions of its inputs and the name of its
output and returns statements. Values of shape () are Numba scalars, all
others arrays. Views (slices, transposes, broadcasts) stay views; `fresh`
says which primitives return a newly allocated array, so the kernel copies
any other output before handing it to the user.
"""
from __future__ import annotations

import numpy as np

from ...prims.shape import as_index
from . import scalar
from .alloc import array_text

FRESH = {"fused", "dot_general", "scatter_slice", "concatenate", "gather", "scatter_add", "cumsum",
         "argsort", "solve", "cholesky", "slogdet", "eigh"}


def fresh(node) -> bool:
    """Whether `node`'s outputs are newly allocated arrays (a gather at one index is a view)."""
    if node.prim.name == "gather":
        return bool(node.inputs[1].shape)
    return node.prim.name in FRESH


def _prod(xs):
    return int(np.prod(xs, dtype=np.int64))


def _dtype(var):
    return f"np.{var.dtype.name}"


def constant(node, args, out, ctx):
    value = node.attrs["value"].value
    if not value.shape:
        return [f"{out} = {scalar.literal(value, value.dtype)}"]
    return [f"{out} = {ctx.constant(value)}"]


def reshape(node, args, out, ctx):
    (x,), (a,) = node.inputs, args
    shape = node.attrs["shape"]
    if not x.shape:
        return [f"{out} = np.full({shape}, {a}, {_dtype(x)})"]
    if not shape:
        return [f"{out} = np.ascontiguousarray({a}).reshape(1)[0]"]
    return [f"{out} = np.ascontiguousarray({a}).reshape({shape})"]


def transpose(node, args, out, ctx):
    perm = node.attrs["perm"]
    if perm == (1, 0):
        return [f"{out} = {args[0]}.T"]
    return [f"{out} = np.transpose({args[0]}, {perm})"]


def broadcast_to(node, args, out, ctx):
    (x,), shape = node.inputs, node.attrs["shape"]
    if not x.shape:
        return [f"{out} = np.full({shape}, {args[0]}, {_dtype(x)})"]
    return [f"{out} = np.broadcast_to({args[0]}, {shape})"]


def _index_text(spec):
    parts = []
    for s in as_index(spec):
        start = "" if s.start is None else s.start
        stop = "" if s.stop is None else s.stop
        parts.append(f"{start}:{stop}:{s.step}")
    return ", ".join(parts)


def slice_(node, args, out, ctx):
    return [f"{out} = {args[0]}[{_index_text(node.attrs['spec'])}]"]


def scatter_slice(node, args, out, ctx):
    if not node.out.shape:
        return [f"{out} = {args[0]}"]
    return [f"{out} = {array_text(node.attrs['shape'], node.out.dtype, 'zeros')}",
            f"{out}[{_index_text(node.attrs['spec'])}] = {args[0]}"]


def concatenate(node, args, out, ctx):
    return [f"{out} = np.concatenate(({', '.join(args)},), axis={node.attrs['axis']})"]


def _free(ndim, contract, batch):
    return tuple(i for i in range(ndim) if i not in contract and i not in batch)


def _matrix(name, shape, rows, cols):
    """`name` as a 2-D (rows, cols) array, copying only when the axes are not already
    in one of the two orders BLAS takes. (Numba's matrix-vector path is several times
    slower than its matrix-matrix one, so vectors become one-row matrices.)"""
    ndim, order = len(shape), tuple(rows) + tuple(cols)
    m, k = _prod([shape[r] for r in rows]), _prod([shape[c] for c in cols])
    if order == tuple(range(ndim)):
        return name if tuple(shape) == (m, k) else f"np.ascontiguousarray({name}).reshape({(m, k)})"
    if tuple(cols) + tuple(rows) == tuple(range(ndim)):
        return f"{name}.T" if tuple(shape) == (k, m) else \
            f"np.ascontiguousarray({name}).reshape({(k, m)}).T"
    return f"np.ascontiguousarray(np.transpose({name}, {order})).reshape({(m, k)})"


def dot_general(node, args, out, ctx):
    (a, b), (x, y) = node.inputs, args
    (ca, cb), (ba, bb) = node.attrs["contract"], node.attrs["batch"]
    shape = node.out.shape
    if not a.shape or not b.shape:                 # an outer product with a scalar
        return [f"{out} = {x} * {y}"]
    fa, fb = _free(len(a.shape), ca, ba), _free(len(b.shape), cb, bb)
    if ba or a.dtype.kind != "f":                   # batched, or no BLAS for this dtype
        nb = _prod([a.shape[i] for i in ba])
        m, n, k = _prod([a.shape[i] for i in fa]), _prod([b.shape[i] for i in fb]), \
            _prod([a.shape[i] for i in ca])
        a3 = f"np.ascontiguousarray(np.transpose({x}, {ba + fa + ca})).reshape({(nb, m, k)})"
        b3 = f"np.ascontiguousarray(np.transpose({y}, {bb + cb + fb})).reshape({(nb, k, n)})"
        call = (f"batched_dot({a3}, {b3})" if a.dtype.kind == "f"
                else f"int_dot({a3}, {b3}, {_dtype(node.out)})")
        return [f"{out} = {call}.reshape({shape})" if shape else f"{out} = {call}[0, 0, 0]"]
    m, n, k = (_prod([a.shape[i] for i in fa]), _prod([b.shape[i] for i in fb]),
               _prod([a.shape[i] for i in ca]))
    if a.dtype == b.dtype == node.out.dtype and _small(m, n, k):
        return _small_dot(node, x, y, (fa, ca, fb, cb), (m, n, k), out, ctx)
    lhs = _matrix(x, a.shape, fa, ca)               # (m, k)
    rhs = _matrix(y, b.shape, fb, cb)               # (n, k), to (k, n) without a double .T
    rhs = rhs[:-2] if rhs.endswith(".T") else f"{rhs}.T"
    if lhs.endswith(".T") and rhs.endswith(".T"):
        # A^T B^T = (B A)^T: BLAS on two transposed operands was 5x slower here
        call = _dot(rhs[:-2], lhs[:-2], (n, m), node, out, ctx)     # (n, m), C order
        if shape == (m, n):
            return [f"{out} = {call}.T"]
        if m == 1 or n == 1:                                   # same element order
            return [f"{out} = {call}.reshape({shape})" if shape else f"{out} = {call}[0, 0]"]
        return [f"{out} = np.ascontiguousarray({call}.T).reshape({shape})"]
    call = _dot(lhs, rhs, (m, n), node, out, ctx)
    if shape == (m, n):
        return [f"{out} = {call}"]
    return [f"{out} = {call}.reshape({shape})" if shape else f"{out} = {call}[0, 0]"]


def _dot(lhs, rhs, shape, node, out, ctx):
    """The call computing matrix product `lhs @ rhs` of `shape`: into a workspace buffer
    when the context makes one (see codegen), else into a fresh array."""
    (a, b), buf = node.inputs, f"{out}_buf"
    if a.dtype == b.dtype == node.out.dtype and \
            ctx.reuses(buf, shape, node.out.dtype, node, node.out in ctx.returned):
        return f"dot2_into({lhs}, {rhs}, {buf})"
    return f"dot2({lhs}, {rhs})"


# Products of up to this many multiply-adds (m*n*k) run as loops (runtime.small_mv, ...)
# when one of m, n, k is 1, and up to a quarter of it otherwise: a BLAS call costs
# ~150 ns. Measured here, loops' time / BLAS's: 32x32 matrix-vector 0.6, 64x64 1.0;
# 32x32 outer product 0.5; 8x8 matrix product 0.85, 16x16 1.6.
SMALL_DOT = 2048


def _small(m, n, k) -> bool:
    return m * n * k <= (SMALL_DOT if min(m, n, k) == 1 else SMALL_DOT // 4)


def _small_dot(node, x, y, axes, sizes, out, ctx):
    """A small product as a runtime loop (small_mv, ...): into an array of its own (made
    before the loop when in a loop body, see codegen.Context.reuses), or added straight
    into the accumulator of a loop's gradient sum that offers itself (codegen.while_vjp).
    Vectors stay 1-D (a Numba reshape calls into C, ~15 ns), and W.T @ v reads W by
    rows, as v @ W."""
    (a, b), (fa, ca, fb, cb), (m, n, k) = node.inputs, axes, sizes
    if n == 1 or m == 1:
        mat, vec = (_matrix(x, a.shape, fa, ca), _vector(y, b.shape, cb)) if n == 1 else \
            (_matrix(y, b.shape, fb, cb), _vector(x, a.shape, ca))    # b as (n, k): b.T @ x
        call = f"small_vm({vec}, {mat[:-2]}" if mat.endswith(".T") else f"small_mv({mat}, {vec}"
        natural = (m if n == 1 else n,)
    elif k == 1:
        call = f"small_outer({_vector(x, a.shape, fa)}, {_vector(y, b.shape, fb)}"
        natural = (m, n)
    else:
        rhs = _matrix(y, b.shape, fb, cb)                               # (n, k)
        rhs = rhs[:-2] if rhs.endswith(".T") else f"{rhs}.T"
        call = f"small_mm({_matrix(x, a.shape, fa, ca)}, {rhs}"
        natural = (m, n)
    shape = node.out.shape
    acc = ctx.accumulate.get(node.out)
    if acc is not None:
        ctx.accumulated.add(node.out)
        return [f"{call}, {acc if shape == natural else f'{acc}.reshape({natural})'}, True)"]
    buf = f"{out}_buf"
    lines = ctx.empty(buf, natural, node.out.dtype, node, node.out in ctx.returned)
    if shape == natural:
        return lines + [f"{out} = {call}, {buf}, False)"]
    first = ", ".join(["0"] * len(natural))
    value = f"{call}, {buf}, False)"
    return lines + [f"{out} = {value}.reshape({shape})" if shape else f"{out} = {value}[{first}]"]


def _vector(name, shape, axes):
    """`name` as a 1-D array of its `axes` in that order (its other axes have size 1)."""
    size = _prod([shape[i] for i in axes])
    if len(shape) == 1:
        return name
    big = [i for i in axes if shape[i] != 1]
    if big == sorted(big):
        return f"np.ascontiguousarray({name}).reshape({size})"
    order = tuple(axes) + tuple(i for i in range(len(shape)) if i not in axes)
    return f"np.ascontiguousarray(np.transpose({name}, {order})).reshape({size})"


def _three(name, shape, axis):
    """`name` reshaped to (before axis, axis, after axis): a view when contiguous."""
    pre, post = _prod(shape[:axis]), _prod(shape[axis + 1:])
    return f"np.ascontiguousarray({name}).reshape({(pre, shape[axis], post)})"


def gather(node, args, out, ctx):
    (x, idx), axis = node.inputs, node.attrs["axis"]
    if not idx.shape:       # one index (xs[t] in a loop body): basic indexing, a view
        return [f"{out} = {args[0]}[{':, ' * axis}{args[1]}]"]
    flat = f"np.ascontiguousarray({args[1]}).reshape({idx.type.size})"
    call = f"gather3({_three(args[0], x.shape, axis)}, {flat})"
    return [f"{out} = {call}.reshape({node.out.shape})"]


def scatter_add(node, args, out, ctx):
    (g, idx), axis, size = node.inputs, node.attrs["axis"], node.attrs["size"]
    k = idx.type.size
    lead, tail = g.shape[:axis], g.shape[axis + len(idx.shape):]
    g3 = (f"np.ascontiguousarray({args[0]}).reshape({(_prod(lead), k, _prod(tail))})"
          if g.shape else f"np.full((1, 1, 1), {args[0]})")
    flat = f"np.ascontiguousarray({args[1]}).reshape({k})" if idx.shape else \
        f"np.full(1, {args[1]}, np.int64)"
    return [f"{out} = scatter_add3({g3}, {flat}, {size}).reshape({node.out.shape})"]


def cumsum(node, args, out, ctx):
    (x,), axis = node.inputs, node.attrs["axis"]
    return [f"{out} = cumsum3({_three(args[0], x.shape, axis)}).reshape({x.shape})"]


def argsort(node, args, out, ctx):
    (x,), axis = node.inputs, node.attrs["axis"]
    return [f"{out} = argsort3({_three(args[0], x.shape, axis)}).reshape({x.shape})"]


def _batch3(name, shape):
    """Stack of matrices: (batch, n, m)."""
    return f"np.ascontiguousarray({name}).reshape({(_prod(shape[:-2]),) + tuple(shape[-2:])})"


def solve(node, args, out, ctx):
    (a, b) = node.inputs
    return [f"{out} = solve3({_batch3(args[0], a.shape)}, {_batch3(args[1], b.shape)})"
            f".reshape({b.shape})"]


def cholesky(node, args, out, ctx):
    (a,) = node.inputs
    return [f"{out} = cholesky3({_batch3(args[0], a.shape)}).reshape({a.shape})"]


def _unpack(outs, shapes):
    """Assign the results of a 3-D helper to outputs, reshaped (scalars via [0])."""
    lines = []
    for o, shape in zip(outs, shapes):
        lines.append(f"{o} = {o}_3.reshape({shape})" if shape else f"{o} = {o}_3[0]")
    return lines


def slogdet(node, args, out, ctx):
    (a,), (sign, logdet) = node.inputs, out
    return [f"{sign}_3, {logdet}_3 = slogdet3({_batch3(args[0], a.shape)})"] + \
        _unpack(out, [v.shape for v in node.outputs])


def eigh(node, args, out, ctx):
    (a,), (w, v) = node.inputs, out
    return [f"{w}_3, {v}_3 = eigh3({_batch3(args[0], a.shape)})"] + \
        _unpack(out, [o.shape for o in node.outputs])


LOWERINGS = {
    "gather": gather, "scatter_add": scatter_add, "cumsum": cumsum, "argsort": argsort,
    "solve": solve, "cholesky": cholesky, "slogdet": slogdet, "eigh": eigh,
    "constant": constant, "reshape": reshape, "transpose": transpose,
    "broadcast_to": broadcast_to, "slice": slice_, "scatter_slice": scatter_slice,
    "concatenate": concatenate, "dot_general": dot_general,
}

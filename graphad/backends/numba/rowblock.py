"""A `rowblock` node (graphad/passes/rowblock.py) -> one loop over blocks of X's rows.

    for each of CHUNKS chunks of rows (prange):
        for each block of rows in the chunk:
            z = X[block] @ w                 BLOCK_BYTES of X: stays in cache
            the region on the block's rows    loops.Region, domain (rows of the block, ...)
            part[chunk] += X[block].T @ d     for each X.T @ d
            sums[chunk] += the block's sums over rows
    sum the chunk partials in chunk order

X is read from memory once instead of twice. The chunks are fixed (not one per
thread), so results do not depend on the thread count. Row values other nodes
read (and `a` when read) are copied from the block buffers into full arrays.
"""
from __future__ import annotations

import numpy as np

from .loops import Region

CHUNKS = 16            # as loops.CHUNKS: partial sums merged in a fixed order
# Rows per block: this many bytes of X. The hand kernel (benchmarks/hand_kernels.py, W6)
# measured 1024 rows of 50 float64 (400 KB, inside the 1 MB L2).
BLOCK_BYTES = 400 << 10


class _BlockContext:
    """The kernel's Context as the per-block Region sees it: serial (the chunks are the
    parallel loop), and the block buffers it writes are made here, not by the region."""

    serial = True

    def __init__(self, ctx, made):
        self._ctx, self._made = ctx, made

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    def empty(self, name, shape, dtype, node, returned=False):
        if name in self._made:
            return []
        return self._ctx.empty(name, shape, dtype, node, returned)


def lower(node, names, ctx) -> list:
    """Lines computing rowblock `node`; `names` maps outer vars to Python names."""
    body = node.attrs["body"]
    mv, region, *products = body.nodes
    outer = dict(zip(body.inputs, (names[v] for v in node.inputs)))
    full = dict(zip(body.outputs, (names[v] for v in node.outputs)))
    returned = {b for b, v in zip(body.outputs, node.outputs) if v in ctx.returned}
    p = f"rb{ctx.next_region()}"
    x, w = mv.inputs
    (n, dim), dtype = x.shape, f"np.{x.dtype.name}"
    rows = max(16, min(n, BLOCK_BYTES // (dim * x.dtype.itemsize)))
    chunks = max(1, min(CHUNKS, n // rows))
    parallel = chunks > 1 and not ctx.serial and 2 * n * dim >= ctx.parallel_work
    ctx.parallel |= parallel
    X, m, r0 = outer[x], f"{p}_m", f"{p}_r0"

    def width(v):                       # a row value [N, ...] as a matrix [rows, width]
        return int(np.prod(v.shape[1:], dtype=np.int64))

    pre = [f"{p}_w = np.ascontiguousarray({outer[w]}).reshape(({dim}, {width(mv.out)}))"]
    for v, name in full.items():        # row values read by others: full arrays
        if v.shape and v.shape[0] == n:
            pre += ctx.empty(name, v.shape, v.dtype, node, v in returned)
    # Per chunk: block buffers of the row values, sums of each product and row sum.
    rowvals = [mv.out] + [v for v in region.outputs if v.shape and v.shape[0] == n]
    sums = [v for v in region.outputs if v not in rowvals and v in full]
    buf = {v: f"{p}_b{i}" for i, v in enumerate(rowvals)}
    part = {v: f"{p}_p{i}" for i, v in enumerate([q.out for q in products] + sums)}
    for q in products:
        pre.append(f"{part[q.out]} = np.zeros(({chunks}, {dim}, {width(q.inputs[1])}), {dtype})")
    for v in sums:
        pre.append(f"{part[v]} = np.zeros({(chunks,) + tuple(v.shape)}, np.{v.dtype.name})")
    c = f"{p}_c"
    lo, hi = f"{c} * {n} // {chunks}", f"({c} + 1) * {n} // {chunks}"
    chunk = [f"{p}_hi = {hi}"]
    chunk += [f"{b} = np.empty({(rows,) + tuple(v.shape[1:])}, np.{v.dtype.name})"
              for v, b in buf.items()]
    # One block: the rows r0 .. r0 + m of X, of every row value and input.
    block = [f"{m} = min({rows}, {p}_hi - {r0})", f"{p}_x = {X}[{r0}:{r0} + {m}]", "",
             f"# {ctx.equation(mv)}",
             f"dot2_into({p}_x, {p}_w, {buf[mv.out]}[:{m}].reshape(({m}, {width(mv.out)})))"]
    local = {}                          # region var -> the block's Python name
    for v in region.inputs:
        if v in buf:                    # a: the block's z
            local[v] = f"{p}_in{len(local)}"
            block.append(f"{local[v]} = {buf[v]}[:{m}]")
        elif v.shape and v.shape[0] == n:
            local[v] = f"{p}_in{len(local)}"
            block.append(f"{local[v]} = {outer[v]}[{r0}:{r0} + {m}]")
        else:                           # parameters broadcast over the rows
            local[v] = outer[v]
    made = set()                        # row outputs: written into the block buffers
    for i, v in enumerate(region.outputs):
        local[v] = f"{p}_out{i}"
        if v in buf:
            made.add(local[v])
            block.append(f"{local[v]} = {buf[v]}[:{m}]")
    block += ["", f"# {ctx.equation(region)}"]
    lowered = Region(region, local, _BlockContext(ctx, made), ctx.next_region(), rows=m)
    block += lowered.emit()
    for v in sums:
        block.append(f"{part[v]}[{c}] += {local[v]}")
    for q in products:
        d = q.inputs[1]
        block += ["", f"# {ctx.equation(q)}",
                  f"{part[q.out]}[{c}] += dot2({p}_x.T, {buf[d]}[:{m}].reshape(({m}, {width(d)})))"]
    for v in rowvals:
        if v in full:
            block.append(f"{full[v]}[{r0}:{r0} + {m}] = {buf[v]}[:{m}]")
    chunk += [f"for {r0} in range({lo}, {p}_hi, {rows}):"] + _indent(block)
    lines = pre + [f"for {c} in {'prange' if parallel else 'range'}({chunks}):"] + _indent(chunk)
    # Chunk partials, summed in chunk order.
    k = f"{p}_k"
    for v in [q.out for q in products] + sums:
        out, total = full[v], part[v]
        lines += [f"{out} = {total}[0].copy()" if v.shape else f"{out} = {total}[0]",
                  f"for {k} in range(1, {chunks}):", f"    {out} += {total}[{k}]"]
    for q in products:                  # [D, 1] -> [D] for a vector d
        if len(q.out.shape) == 1:
            lines.append(f"{full[q.out]} = {full[q.out]}.reshape({tuple(q.out.shape)})")
    return lines


def _indent(lines):
    return ["    " + line if line else "" for line in lines]

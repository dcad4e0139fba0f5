"""A `rowblock` node (graphad/passes/rowblock.py) -> one loop over blocks of X's rows.

    for each of CHUNKS chunks of rows (prange):
        for each block of rows in the chunk:
            z = X[block] @ w                 BLOCK_BYTES of X: stays in cache
            the region on the block's rows    loops.Region, domain (rows of the block, ...)
            acc += X[block].T @ d             for each X.T @ d, into the chunk's accumulator
            sums[chunk] += the block's sums over rows
    sum the chunk partials in chunk order

X is read from memory once instead of twice. The two products are loops in the
kernel, not BLAS calls: a block's products are small (1024 x 50), and per block
the calls and the array dot2 returns cost more than the arithmetic (W6 took about
1.55x the time of a bare parallel sum over X with dot2_into / dot2, 1.15x with the
loops). Both loops run along X's rows at unit stride: z's dot products sum through
`radd`, which LLVM may reassociate and so vectorizes; the accumulator [k, D] of
X.T @ d adds multiples of rows. What remains over the bare read is mostly that
accumulation: the block comes back from L2 while no memory traffic is in flight.
(Overlapping the two failed: computing the next block's z in the same loop made W6
1.9x slower, and so did loads touching the next block's lines in it.)
The chunks are fixed (not one per thread), so results do not depend on the thread
count. Row values other nodes read (and `a` when read) are copied from the block
buffers into full arrays.
"""
from __future__ import annotations

import numpy as np

from .alloc import array_text
from .loops import Region

# Partial sums merged in a fixed order, as loops.CHUNKS, but fewer: W6 on 2 threads took
# 1.08x the time with 16 chunks (1.03x with 8) of what it took with 4 or 2.
CHUNKS = 4
# Rows per block: this many bytes of X, inside the 1 MB L2. W6 measured 40-800 KB alike;
# 25 KB (64 rows, in L1) took 1.13x the time: the per-block work outweighs the faster reads.
BLOCK_BYTES = 400 << 10
# Rows of a block added to the accumulator of X.T @ d per pass over it. With one, the
# loads and stores of acc chain from row to row: W6 took about 1.04x the time with 4
# and 1.06-1.10x with 1 of what it took with 8.
UPDATE_ROWS = 8


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
    X, m, r0, c = outer[x], f"{p}_m", f"{p}_r0", f"{p}_c"

    def width(v):                       # a row value [N, ...] as a matrix [rows, width]
        return int(np.prod(v.shape[1:], dtype=np.int64))

    # w as rows [k, D], so that each dot product runs along X's rows at unit stride. The
    # loops take D from X's shape: with the literal 50, W6 took 1.2x the time.
    pre = [f"{p}_wt = np.ascontiguousarray(np.ascontiguousarray({outer[w]})"
           f".reshape(({dim}, {width(mv.out)})).T)",
           f"{p}_d = {X}.shape[1]"]
    for v, name in full.items():        # row values read by others: full arrays
        if v.shape and v.shape[0] == n:
            pre += ctx.empty(name, v.shape, v.dtype, node, v in returned)
    # Per chunk: block buffers of the row values, sums of each product and row sum.
    rowvals = [mv.out] + [v for v in region.outputs if v.shape and v.shape[0] == n]
    sums = [v for v in region.outputs if v not in rowvals and v in full]
    buf = {v: f"{p}_b{i}" for i, v in enumerate(rowvals)}
    part = {v: f"{p}_p{i}" for i, v in enumerate([q.out for q in products] + sums)}
    acc = {q.out: f"{p}_g{i}" for i, q in enumerate(products)}
    for q in products:
        shape = (chunks, dim, width(q.inputs[1]))
        pre.append(f"{part[q.out]} = {array_text(shape, x.dtype, 'zeros')}")
    for v in sums:
        pre.append(f"{part[v]} = {array_text((chunks,) + tuple(v.shape), v.dtype, 'zeros')}")
    lo, hi = f"{c} * {n} // {chunks}", f"({c} + 1) * {n} // {chunks}"
    chunk = [f"{p}_hi = {hi}"]
    chunk += [f"{b} = {array_text((rows,) + tuple(v.shape[1:]), v.dtype)}"
              for v, b in buf.items()]
    chunk += [f"{acc[q.out]} = {array_text(f'({width(q.inputs[1])}, {p}_d)', x.dtype)}"
              for q in products]
    # One block: the rows r0 .. r0 + m of X, of every row value and input.
    block = [f"{m} = min({rows}, {p}_hi - {r0})", f"{p}_x = {X}[{r0}:{r0} + {m}]", "",
             f"# {ctx.equation(mv)}"]
    block += _row_dots(p, buf[mv.out], width(mv.out), dtype, len(mv.out.shape) == 1)
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
        block += ["", f"# {ctx.equation(q)}", f"{acc[q.out]}[:] = 0"]
        block += _row_sums(p, buf[d], width(d), acc[q.out], len(d.shape) == 1)
        # the block's sum into the chunk's: float32 summed 25,000 rows at a time lost 7x
        block.append(f"{part[q.out]}[{c}] += {acc[q.out]}.T")
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


def _row_dots(p, z, k, dtype, vector) -> list:
    """z [m] (`vector`) or [m, k] = the block's X [m, D] @ w: each entry a dot product of a
    row of X and a row of wt, summed through `radd` (which LLVM may split across SIMD lanes)."""
    at = f"{z}[{p}_i]" if vector else f"{z}[{p}_i, {p}_q]"
    return _columns(p, k, [
        f"{p}_wq = {p}_wt[{p}_q]",
        f"for {p}_i in range({p}_m):",
        f"    {p}_s = {dtype}(0)",
        f"    for {p}_j in range({p}_d):",
        f"        {p}_s = radd({p}_s, {p}_x[{p}_i, {p}_j] * {p}_wq[{p}_j])",
        f"    {at} = {p}_s"])


def _row_sums(p, d, k, acc, vector) -> list:
    """acc [k, D] += (the block's X [m, D]).T @ d, d [m] (`vector`) or [m, k]: acc[q] +=
    d[i, q] * X[i], UPDATE_ROWS rows per update of acc, their terms summed as a balanced tree."""
    def at(i):
        return f"{d}[{i}]" if vector else f"{d}[{i}, {p}_q]"
    i, x, u = f"{p}_i", f"{p}_x", UPDATE_ROWS
    terms = [f"{p}_v{r} * {x}[{i}{f' + {r}' if r else ''}, {p}_j]" for r in range(u)]
    return _columns(p, k, [
        f"{p}_gq = {acc}[{p}_q]",
        f"{i} = 0",
        f"while {i} + {u} <= {p}_m:",
        *[f"    {p}_v{r} = {at(f'{i} + {r}' if r else i)}" for r in range(u)],
        f"    for {p}_j in range({p}_d):",
        f"        {p}_gq[{p}_j] += {_tree(terms)}",
        f"    {i} += {u}",
        f"for {i} in range({i}, {p}_m):",
        f"    {p}_v0 = {at(i)}",
        f"    for {p}_j in range({p}_d):",
        f"        {p}_gq[{p}_j] += {terms[0]}"])


def _tree(terms) -> str:
    """The sum of `terms` as a balanced tree of additions (a short dependency chain)."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return f"({_tree(terms[:half])} + {_tree(terms[half:])})"


def _columns(p, k, lines) -> list:
    """`lines` for each column q of k, outermost, so that the inner loops index 1-D
    arrays (a row of wt or acc, a vector z or d when k == 1: W6 took 1.03x the time
    with z and d indexed as [m, 1])."""
    if k == 1:
        return [f"{p}_q = 0"] + lines
    return [f"for {p}_q in range({k}):"] + _indent(lines)


def _indent(lines):
    return ["    " + line if line else "" for line in lines]

"""The Numba backend: a fused graph becomes one `numba.njit` function.

`prepare` splits each logsumexp into a max loop and an exp-sum loop
(graphad.passes.split_logsumexp), turns reverse mode's backward chains of products
into running products that a fused loop accumulates as it goes
(graphad.passes.products; rounding-level, so only with fastmath), fuses the
optimized graph (graphad.passes.fusion), then joins `X @ w`, a row-wise region and `X.T @ d` into one pass over X's rows
(graphad.passes.rowblock, lowered by rowblock.py); `compile_graph` generates Python
source for it (codegen.py: one loop nest per fused region, loops.py; BLAS for
dot_general and whole-array code for other nodes, arrays.py), stores the source in
the on-disk cache (graphad.cache) and imports it, so Numba's own cache can reuse
machine code across processes.
Large intermediates the kernel does not return are workspace parameters, allocated
once per thread by the executable (executable.py) and reused across calls.

Lowering tables, one per family: scalar.SCALAR (elementwise), reducers.REDUCERS
(reductions), arrays.LOWERINGS (other array operations), codegen.CONTROL (cond,
while and while_vjp, inlined as `if` / `while` loops; while_vjp's tape is an array
per carry that doubles when full). `lowering_of(prim)` says which applies.
Stopgaps, each logged as a warning when used:
- a primitive in no table (none today; any added after this backend) splits the
  graph: that node runs its numpy implementation between compiled pieces;
  `tests/test_numba_backend.py` fails naming every such primitive;
- a kernel Numba rejects (a bug here) runs with the numpy oracle instead.
"""
from __future__ import annotations

import logging
import os

import numpy as np

# Numba's parallel loops run on OpenMP threads, which by default spin after each
# loop; on a few cores they then fight BLAS's own threads (the W3 gradient ran 9x
# slower). Sleeping threads cost a few microseconds per parallel loop instead.
# Set before OpenMP starts; a value the user chose wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Numba's np.dot calls SciPy's OpenBLAS, whose worker threads spin for 2**28 cycles
# (~70 ms) after each product before they sleep: the same fight with parallel loops.
# 2**16 cycles (~20 us) still carries them from one product of a gradient to the next
# (W3 with 2 BLAS threads: 0.60x JAX; sleeping at once, 2**4: 0.71x). Read when
# graphad.cache first loads SciPy's BLAS; a value the user chose wins.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")

from ...ir import Graph
from ...passes.fusion import VIEWS, fuse, fused_p
from ...passes.rowblock import row_block, rowblock_p
from ...passes.products import schedule_products
from ...passes.split_logsumexp import split_logsumexp
from .arrays import LOWERINGS
from .codegen import CONTROL, Options, generate
from .reducers import REDUCERS
from .scalar import SCALAR

log = logging.getLogger("graphad")
SUPPORTED_DTYPES = {np.dtype(t) for t in (np.float64, np.float32, np.int64, np.int32, np.int16,
                                          np.int8, np.uint8, np.uint16, np.uint32, np.uint64,
                                          np.bool_)}


# Primitives that never reach a backend, and why.
REMOVED_BEFORE = {"custom_vjp_call": "inlined by passes/inline_custom.py before fusion"}


def lowering_of(prim):
    """'scalar', 'reduction', 'array', 'control', 'fused', 'rowblock', 'removed', or None
    (no native lowering)."""
    if prim is fused_p:
        return "fused"
    if prim is rowblock_p:
        return "rowblock"
    if prim.name in REMOVED_BEFORE:
        return "removed"
    if prim.kind == "elementwise" and prim.name in SCALAR:
        return "scalar"
    if prim.kind == "reduction" and prim.name in REDUCERS:
        return "reduction"
    if prim.name in LOWERINGS:
        return "array"
    if prim.name in CONTROL:
        return "control"
    return None


def fusible(prim) -> bool:
    return lowering_of(prim) in ("scalar", "reduction") and not prim.multiple_results


def prepare(graph: Graph, fastmath=True) -> Graph:
    """`fastmath=False` leaves products as written (schedule_products changes rounding)."""
    graph = split_logsumexp(graph)
    if fastmath:
        graph = schedule_products(graph)
    return row_block(fuse(graph, fusible))


def _native(node) -> bool:
    if lowering_of(node.prim) in (None, "removed"):
        return False
    if any(v.dtype not in SUPPORTED_DTYPES for v in node.inputs + node.outputs):
        return False
    return all(_native(n) for sub in node.subgraphs() for n in sub.nodes)


def compile_graph(graph: Graph, strict=False, **options):
    """An executable for `graph` (already fused by `prepare`); `options` are codegen's
    Options; `strict` raises rather than falls back when Numba rejects the kernel."""
    from .executable import NumbaExecutable, SplitExecutable
    opts = Options(**options)
    if all(_native(n) for n in graph.nodes) and \
            all(v.dtype in SUPPORTED_DTYPES for v in graph.inputs):
        return NumbaExecutable(graph, generate(graph, opts), strict)
    missing = sorted({n.prim.name for n in graph.nodes if not _native(n)})
    log.warning("numba backend: no native lowering for %s; those nodes run with numpy "
                "between compiled pieces", ", ".join(missing))
    return SplitExecutable(graph, opts, _native)


__all__ = ["VIEWS", "compile_graph", "fusible", "lowering_of", "prepare"]

"""How many vector iterations of a loop LLVM interleaves, for kernels whose
loops are long chains of dependent operations.

LLVM's loop vectorizer chooses an interleave count from the loop's size and
register pressure, and for a long loop body it chooses 1: each iteration is then
one chain of dependent vector instructions. W4's body (sigmoid, 20 layers of
v = 4v(1-v) and their adjoints) is ~240 AVX-512 instructions on a critical path
of ~400 cycles; the out-of-order window holds fewer than two iterations, so the
loop ran latency-bound: 4.7 ms. Four interleaved iterations give four independent
chains: 2.3 ms, compile 1.18 -> 1.39 s (eight: 2.15 ms, 1.57 s; the same four chains
written out in the source instead compiled in 2.4 s). Sessions later, in one process:
4.47 ms, 2.21 ms with four, 1.97 ms with eight.

The count is LLVM's `-force-vector-interleave`, a process-wide option: it is
set only during a kernel's first call (compiling or loading it, and running it),
under Numba's compiler lock, and put back afterwards. The kernel's source records
the count, so a cached kernel is the one compiled with it. Helpers the kernel
calls that are compiled for the first time then (Numba caches them separately)
are compiled with it too, and stay so in Numba's cache: a helper that sums with
reassociation (folds.py) may then round its sum differently, by an ulp or so,
than when another kernel compiled it first.
"""
from __future__ import annotations

from contextlib import contextmanager

# Which regions ask for it (A/B in one process, every region forced vs none): W4, critical
# path 102 COST units, 0.47x the time; the sine fit's gradient (13 units, sin inline)
# 0.84x; log-sum-exp's loops (2-5 units) 0.96x; W3's 128x256 regions (6 units) 1.02x
# and 0.14 s more compile. Short loops spend their time outside the vector body.
DEEP = 8
MIN_ELEMENTS = 1 << 16
# How many: the deeper the chain, the more chains it takes to hide its latency. Counts
# 1 / 4 / 8 in one process, 60 interleaved rounds: W4 4.47 / 2.21 / 1.97 ms (first call
# 0.72 / 0.77 / 0.99 s); W1-1e6 1.52 / 1.29 / 1.34 ms.
COUNT, DEEPER_COUNT, DEEPER = 4, 8, 64


def count(depth: int) -> int:
    """The interleave count for a large region whose critical path is `depth`."""
    return 1 if depth < DEEP else (COUNT if depth < DEEPER else DEEPER_COUNT)


def critical_path(body, costs) -> int:
    """Longest chain of dependent operations of a region's body, in COST units."""
    depth = {}
    for node in body.nodes:
        start = max((depth.get(v, 0) for v in node.inputs), default=0)
        cost = costs.get(node.prim.name, 1) if node.inputs else 0
        for v in node.outputs:
            depth[v] = start + cost
    return max(depth.values(), default=0)


@contextmanager
def forced(n: int):
    """Kernels compiled inside interleave `n` iterations of every vectorized loop."""
    if n <= 1:
        yield
        return
    import llvmlite.binding as llvm
    from numba.core.compiler_lock import global_compiler_lock
    with global_compiler_lock:
        llvm.set_option("graphad", f"-force-vector-interleave={n}")
        try:
            yield
        finally:
            llvm.set_option("graphad", "-force-vector-interleave=0")

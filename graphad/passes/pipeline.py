"""The optimization pipeline: an explicit tuple of passes run to a fixpoint.

Each pass is a pure function Graph -> Graph. The pipeline records, for every
pass application, the node count before and after and the time it took.
"""
from __future__ import annotations

import time

from ..ir import Graph
from .dce import dce

PASSES = {"dce": dce}
DEFAULT_PASSES = ("dce",)
MAX_ROUNDS = 8


def optimize(graph: Graph, passes=None):
    """(optimized graph, records). `passes` names the passes to run, in order."""
    passes = DEFAULT_PASSES if passes is None else tuple(passes)
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise ValueError(f"unknown passes {unknown}; known: {sorted(PASSES)}")
    records = []
    for round_ in range(MAX_ROUNDS):
        changed = False
        for name in passes:
            before = graph.count_nodes()
            t0 = time.perf_counter()
            new = PASSES[name](graph)
            seconds = time.perf_counter() - t0
            after = new.count_nodes()
            records.append({"pass": name, "round": round_, "before": before, "after": after,
                            "seconds": seconds})
            changed |= new is not graph
            graph = new
        if not changed:
            break
    return graph, records

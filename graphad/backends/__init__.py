"""Backends turn a graph into something callable on a flat list of arrays.

numpy: the reference evaluator (the oracle). numba: fusion, then one
generated `numba.njit` kernel per graph, cached on disk (graphad.cache).
"""
from __future__ import annotations

from ..errors import GraphadError

DEFAULT_BACKEND = "numba"
BACKENDS = ("numpy", "numba")


def prepare(graph, backend: str, fastmath=True):
    """The graph a backend compiles (the "fused" stage) from the optimized graph;
    `fastmath` as for `graphad.compile`."""
    if backend == "numba":
        from .numba import prepare as prepare_numba
        return prepare_numba(graph, fastmath)
    return graph


def compile_graph(graph, backend: str, **options):
    if backend == "numpy":
        from .numpy import compile_graph as compile_numpy
        return compile_numpy(graph)
    if backend == "numba":
        from .numba import compile_graph as compile_numba
        return compile_numba(graph, **options)
    raise GraphadError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")

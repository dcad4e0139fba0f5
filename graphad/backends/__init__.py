"""Backends turn a graph into something callable on a flat list of arrays."""
from __future__ import annotations

from ..errors import GraphadError

DEFAULT_BACKEND = "numpy"
BACKENDS = ("numpy",)


def prepare(graph, backend: str):
    """The graph a backend compiles (the "fused" stage) from the optimized graph."""
    return graph


def compile_graph(graph, backend: str):
    if backend == "numpy":
        from .numpy import compile_graph as compile_numpy
        return compile_numpy(graph)
    raise GraphadError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")

"""The reference backend: evaluates a graph node by node with numpy.

Slow and obviously right; every pass and the Numba backend are tested
against it.
"""
from __future__ import annotations

import numpy as np

from ...ir import Graph


def evaluate(graph: Graph, args):
    """Values of `graph`'s outputs for the input arrays `args`."""
    env = dict(zip(graph.inputs, args))
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            out = node.prim.impl(*[env[v] for v in node.inputs], **node.attrs)
            if node.prim.multiple_results:
                env.update(zip(node.outputs, out))
            else:
                env[node.outputs[0]] = out
    return [env[v] for v in graph.outputs]


class NumpyExecutable:
    """A graph evaluated by the numpy oracle, callable on a flat list of arrays."""

    def __init__(self, graph: Graph):
        self.graph = graph

    def __call__(self, args):
        return [np.asarray(v, dtype=var.type.dtype).reshape(var.type.shape)
                for v, var in zip(evaluate(self.graph, args), self.graph.outputs)]


def compile_graph(graph: Graph, **options) -> NumpyExecutable:
    return NumpyExecutable(graph)

"""logsumexp as two vectorizable passes, for a backend that fuses loops.

A fused loop folds `logsumexp` with an online update: each element may raise the
running maximum, which rescales the running sum, so the fold carries a branch and
a dependency from one element to the next (backends/numba/reducers.py blocks it,
and it still costs ~2 ns an element). Written as

    m = max(x);  s = m if |m| < inf else 0;  logsumexp(x) = log(sum(exp(x - s))) + s

it is a max-reduction loop and an exp-sum loop, both of which LLVM vectorizes:
W7's gradient went 1.49 -> 1.21 ms (hand-edited kernel, 21 interleaved rounds).
The shift is the oracle's (prims/reductions.py), so infinities and NaN come out as
there. Top-level nodes only: a loop body keeps its single-pass fold.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, Var
from ..prims import elementwise as E
from ..prims.reductions import _kept_shape, logsumexp_p, reduce_max_p, reduce_sum
from ..prims.shape import reshape
from ..trace import trace_function


def _two_pass(axes, shape):
    def lse(x):
        m = reduce_max_p.bind(x, axes=axes)
        finite = E.lt(E.abs_(m), np.array(np.inf, x.dtype))
        shift = E.select(finite, m, E.zeros_of(m))
        s = reduce_sum(E.exp(E.sub(x, reshape(shift, _kept_shape(shape, axes)))), axes)
        return E.add(E.log(s), shift)
    return lse


def split_logsumexp(graph: Graph) -> Graph:
    if not any(n.prim is logsumexp_p and n.attrs["axes"] for n in graph.nodes):
        return graph
    rename, nodes = {}, []
    for node in graph.nodes:
        ins = [rename.get(v, v) for v in node.inputs]
        (x,) = ins if node.prim is logsumexp_p else (None,)
        if node.prim is not logsumexp_p or not node.attrs["axes"] or not x.type.is_float:
            nodes.append(Node(node.prim, ins, node.outputs, node.attrs, node.meta))
            continue
        axes = node.attrs["axes"]
        sub = trace_function(_two_pass(axes, x.shape), (np.empty(x.shape, x.dtype),)).graph
        local = {sub.inputs[0]: x}
        for n in sub.nodes:
            outs = [Var(v.type) for v in n.outputs]
            nodes.append(Node(n.prim, [local[v] for v in n.inputs], outs, n.attrs,
                              dict(n.meta, **node.meta)))
            local.update(zip(n.outputs, outs))
        rename[node.out] = local[sub.outputs[0]]
    return Graph(graph.inputs, nodes, [rename.get(v, v) for v in graph.outputs])

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

The gradient of logsumexp, exp(x - logsumexp(x)) (the softmax), then reuses the
exp-sum loop's terms: exp(x - s) * (1 / sum). One exponential an element instead
of two, and no cancellation in x - logsumexp(x) (x - s is exact near the maximum).
Only where L broadcasts back along the reduced axes (keepdims), so that each x
meets its own slice's sum. Infinities and NaN give what exp(x - logsumexp(x))
gives: all -inf is 0/0, a +inf is inf/inf where it sits and 0 elsewhere, except
beside an element whose exp overflows (x > 709.78; float32 88.7), which also
gets inf * 0 = nan where the oracle gives 0.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..prims import elementwise as E
from ..prims.reductions import _kept_shape, logsumexp_p, reduce_max_p, reduce_sum
from ..prims.shape import reshape, reshape_p
from ..trace import trace_function
from .dce import dce
from .stabilize import _lstrip
from .subgraphs import splice


def _two_pass(axes, shape):
    """x -> (logsumexp(x), the terms exp(x - shift), their sum)."""
    def lse(x):
        m = reduce_max_p.bind(x, axes=axes)
        finite = E.lt(E.abs_(m), np.array(np.inf, x.dtype))
        shift = E.select(finite, m, E.zeros_of(m))
        terms = E.exp(E.sub(x, reshape(shift, _kept_shape(shape, axes))))
        s = reduce_sum(terms, axes)
        return E.add(E.log(s), shift), terms, s
    return lse


def _softmax(shape):
    """(terms, sum) -> terms / sum, the sum's reciprocal shaped like `shape`."""
    def softmax(terms, s):
        return E.mul(terms, reshape(E.reciprocal(s), shape))
    return softmax


def _inline(fun, inputs, nodes, meta) -> list:
    """Append `fun`'s equations, traced on `inputs`' types, to `nodes`; its outputs."""
    sub = trace_function(fun, tuple(np.empty(v.shape, v.dtype) for v in inputs)).graph
    return splice(sub, inputs, nodes, meta)


def split_logsumexp(graph: Graph) -> Graph:
    if not any(n.prim is logsumexp_p and n.attrs["axes"] for n in graph.nodes):
        return graph
    producer = {v: n for n in graph.nodes for v in n.outputs}
    rename, nodes, split = {}, [], {}        # logsumexp output -> (x, terms, sum, axes)
    softmaxes = False
    for node in graph.nodes:
        ins = [rename.get(v, v) for v in node.inputs]
        (x,) = ins if node.prim is logsumexp_p else (None,)
        if node.prim is logsumexp_p and node.attrs["axes"] and x.type.is_float:
            lse, terms, s = _inline(_two_pass(node.attrs["axes"], x.shape), [x], nodes, node.meta)
            rename[node.out] = lse
            split[node.out] = (x, terms, s, node.attrs["axes"])
            continue
        found = _softmax_of(node, producer, split, rename)
        if found is not None:
            terms, s, shape = found
            (rename[node.out],) = _inline(_softmax(shape), [terms, s], nodes, node.meta)
            softmaxes = True
            continue
        nodes.append(Node(node.prim, ins, node.outputs, node.attrs, node.meta))
    out = Graph(graph.inputs, nodes, [rename.get(v, v) for v in graph.outputs])
    return dce(out) if softmaxes else out      # x - logsumexp(x) may be left unread


def _softmax_of(node, producer, split, rename):
    """(terms, sum, L's shape) when `node` is exp(x - L), L a split logsumexp of x, or its
    reshape, that broadcasts back along the reduced axes (as with keepdims)."""
    if node.prim is not E.exp_p:
        return None
    diff = producer.get(node.inputs[0])
    if diff is None or diff.prim is not E.sub_p:
        return None
    x, lse = diff.inputs
    shape = lse.shape
    shaped = producer.get(lse)
    if shaped is not None and shaped.prim is reshape_p:
        (lse,) = shaped.inputs
    if lse not in split:
        return None
    source, terms, s, axes = split[lse]
    if rename.get(x, x) is not source or node.out.shape != source.shape or \
            _lstrip(shape) != _lstrip(_kept_shape(source.shape, axes)):
        return None
    return terms, s, shape

"""Row blocking: read a tall matrix once for `X @ w`, a row-wise region, and `X.T @ d`.

A gradient of a model linear in a data matrix X [N, D] (logistic regression,
linear least squares) computes, after fusion,

    a = dot_general X w          # contracting X's last axis; w [D] or [D, k]
    d.. = fused a, rows.., params..   # row-wise region: row values [N, ...], sums over N
    g = dot_general X d          # contracting N: X.T @ d

Each product reads all of X from memory. This pass replaces the three (one or more
`X.T @ d` on the same X) by one `rowblock` node whose `body` holds them; the
Numba backend runs it as a loop over blocks of rows that computes the block's
`a`, the region and the block's share of each `X.T @ d` while the block is in
cache (backends/numba/rowblock.py). Under the numpy oracle the node evaluates
its body, so its meaning is that of the three nodes.

What may join, checked conservatively (otherwise the graph is left alone):
- X is 2-D and at least MIN_BYTES, a graph input or a freshly computed array (not a view), and X, w, a,
  d and g share one float dtype;
- in the region's body N is the leading dimension of every value that has it and
  appears nowhere else, the region's domain is [N] or [N, k], and each sum over
  the rows is a `reduce_sum` (block partial sums add up);
- no other input of the region depends on `a` (the node would feed itself).
Values of the region (and `a`) that other nodes read are still produced in full.
"""
from __future__ import annotations

from ..ir import Graph, Node, Var
from ..prims.core import Primitive
from .fusion import _copy, _fused_impl, _fused_infer, _toposort, fused_p, reduced_axes, squeeze

rowblock_p = Primitive("rowblock", infer=_fused_infer, impl=_fused_impl, kind="fused",
                       differentiable=False, multiple_results=True)

FLOATS = ("float32", "float64")
# Only a matrix this large joins: a smaller one stays in cache between the two products,
# so reading it once saves little, while the blocked loop costs seconds of compile time
# (W2's 1000x4 activations: first call 1.0 -> 4.4 s).
MIN_BYTES = 8 << 20
ROW_SUMS = ("reduce_sum",)          # reductions over the rows whose block partials add up


def row_block(graph: Graph) -> Graph:
    """`graph` with each matching product / region / product triple in one rowblock node."""
    while True:
        match = _find(graph)
        if match is None:
            return graph
        graph = _replace(graph, *match)


# ---- matching --------------------------------------------------------------------

def _is_mv(node) -> bool:
    """`X @ w`: X 2-D contracted on its last axis with w's first, w [D] or [D, k]."""
    if node.prim.name != "dot_general" or node.attrs["batch"] != ((), ()):
        return False
    x, w = node.inputs
    return (len(x.shape) == 2 and len(w.shape) in (1, 2)
            and x.shape[0] * x.shape[1] * x.dtype.itemsize >= MIN_BYTES
            and node.attrs["contract"] == ((1,), (0,)))


def _is_tv(node, x) -> bool:
    """`X.T @ d` for this X: contracting X's rows with d's leading axis, d [N] or [N, k]."""
    return (node.prim.name == "dot_general" and node.attrs["batch"] == ((), ())
            and node.inputs[0] is x and node.inputs[1] is not x
            and len(node.inputs[1].shape) in (1, 2)
            and node.attrs["contract"] == ((0,), (0,)))


def _find(graph):
    users = {}
    for node in graph.nodes:
        for v in set(node.inputs):
            users.setdefault(v, []).append(node)
    producer = {v: n for n in graph.nodes for v in n.outputs}
    for a_node in graph.nodes:
        if not _is_mv(a_node):
            continue
        x, a = a_node.inputs[0], a_node.out
        if not _plain_matrix(x, producer):
            continue
        for region in users.get(a, []):
            if region.prim is not fused_p:
                continue
            products = [n for d in region.outputs for n in users.get(d, []) if _is_tv(n, x)]
            if products and _legal(a_node, region, products, graph):
                return a_node, region, list(dict.fromkeys(products))
    return None


def _plain_matrix(x, producer) -> bool:
    """X is a graph input or a fresh array: slicing its rows gives contiguous blocks."""
    p = producer.get(x)
    return p is None or p.prim.kind not in ("shape",)


def _legal(a_node, region, products, graph) -> bool:
    x, a = a_node.inputs[0], a_node.out
    n = x.shape[0]
    dtype = x.dtype
    if n < 2 or dtype.name not in FLOATS:
        return False
    if any(v.dtype != dtype for v in (a_node.inputs[1], a)):
        return False
    if any(p.inputs[1].dtype != dtype or p.out.dtype != dtype for p in products):
        return False
    body = region.attrs["body"]
    domain = _domain(body)
    if not domain or domain[0] != n or len(domain) > 2:
        return False
    for var in _body_vars(body):
        if n in var.shape[1:]:
            return False
    for node in body.nodes:
        if node.prim.kind == "reduction":
            (v,) = node.inputs
            folds_rows = bool(v.shape) and v.shape[0] == n and 0 in reduced_axes(node)
            if folds_rows and node.prim.name not in ROW_SUMS:
                return False
    return not _depends_on(a, [v for v in region.inputs if v is not a], graph)


def _body_vars(body):
    yield from body.inputs
    for node in body.nodes:
        yield from node.outputs


def _domain(body):
    """The region's loop domain, as backends/numba/loops.py derives it."""
    for node in body.nodes:
        if node.prim.kind == "reduction":
            return squeeze(node.inputs[0].shape)
        if node.inputs and node.prim.kind == "elementwise":
            return squeeze(node.out.shape)
    return None


def _depends_on(source, targets, graph) -> bool:
    """Whether any of `targets` is computed from `source`."""
    reached, targets = {source}, set(targets)
    for node in graph.nodes:
        if reached.intersection(node.inputs):
            reached.update(node.outputs)
    return bool(reached & targets)


# ---- rewriting ---------------------------------------------------------------------

def _replace(graph, a_node, region, products) -> Graph:
    """`graph` with the three kinds of node replaced by one rowblock node."""
    taken = {id(a_node), id(region)} | {id(p) for p in products}
    needed = set(graph.outputs)                # values read outside the new node
    for node in graph.nodes:
        if id(node) not in taken:
            needed.update(node.inputs)
    for p in products:
        needed.add(p.out)
    outer_in = [a_node.inputs[0], a_node.inputs[1]]
    outer_in += [v for v in region.inputs if v is not a_node.out and v not in outer_in]
    env = {v: Var(v.type) for v in outer_in}
    nodes = []
    for node in [a_node, region] + products:
        new = _copy(node, [env[v] for v in node.inputs])
        env.update(zip(node.outputs, new.outputs))
        nodes.append(new)
    outer_out = [v for node in [a_node, region] + products for v in node.outputs if v in needed]
    body = Graph([env[v] for v in outer_in], nodes, [env[v] for v in outer_out])
    meta = {"phase": region.meta.get("phase", "forward"),
            "phases": tuple(sorted({n.meta.get("phase", "forward")
                                    for n in [a_node, region] + products}))}
    fused = Node(rowblock_p, outer_in, outer_out, {"body": body}, meta)
    units = [(i, node) for i, node in enumerate(graph.nodes) if id(node) not in taken]
    units.append((graph.nodes.index(region), fused))
    return Graph(graph.inputs, _toposort(units), graph.outputs)

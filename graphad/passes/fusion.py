"""Fusion: group elementwise work into regions a backend compiles as one loop nest.

A region is a set of nodes that iterate over one *domain*: the output shape
of its elementwise nodes with unit dimensions dropped (so `f64[4]` and
`f64[1,4]` share the domain `(4,)`). It holds

- elementwise nodes (including casts and `select`) whose shape has that domain,
  and "trivial views" (reshapes / broadcasts / transposes that only move unit
  dimensions, so they are the identity on the domain);
- reductions consuming a value of the region: they accumulate inside the loop
  that produces their input, and their results leave the region.

Everything else (dot_general, slices, scatters, concatenate, general reshapes)
stays outside. Non-trivial broadcasts and transposes of values produced
*outside* a region are copied into it as index arithmetic (a view is free).

Two rules keep regions legal: a region is convex (no path leaves it and comes
back, so contracting it into one node keeps the graph acyclic), and no
expensive node is duplicated. Views and constants cost nothing and are copied
freely; a cheap elementwise node computed from graph inputs only (`y*y`) is
copied into each loop that reads it rather than stored by one loop and loaded
by the next (`rematerialize`).

Nodes are visited in topological order; each fusible node joins the regions of
its producers when the merged set stays convex: none of its external inputs may
be reachable from the set in the graph where the regions formed so far are
already contracted. Bitsets of the original graph's reachability reject most
illegal merges at once; a walk back through the contracted regions catches the
rest. A reduction's result counts as external even to its own region (it only
exists once the loop has finished). Bodies of control-flow nodes are fused in
turn.
"""
from __future__ import annotations

import heapq
from collections import Counter

import numpy as np

from ..ir import Graph, Node, Var
from ..prims.core import Primitive
from ..prims.shape import broadcast_to_p, reshape_p, transpose_p
from .dce import dce

VIEWS = (broadcast_to_p, reshape_p, transpose_p)


# ---- the fused-region primitive ------------------------------------------------

def _fused_infer(*in_types, body):
    if tuple(in_types) != body.in_types:
        raise TypeError(f"fused region takes {body.in_types}, got {tuple(in_types)}")
    return body.out_types


def _fused_impl(*args, body):
    """Evaluate the region's sub-graph node by node (the oracle's semantics)."""
    env = dict(zip(body.inputs, args))
    with np.errstate(all="ignore"):
        for node in body.nodes:
            out = node.prim.impl(*[env[v] for v in node.inputs], **node.attrs)
            env.update(zip(node.outputs, out if node.prim.multiple_results else (out,)))
    return tuple(np.asarray(env[v], dtype=v.type.dtype).reshape(v.type.shape) for v in body.outputs)


fused_p = Primitive("fused", infer=_fused_infer, impl=_fused_impl, kind="fused",
                    differentiable=False, multiple_results=True)


# ---- which nodes may join a region ----------------------------------------------

def squeeze(shape) -> tuple:
    return tuple(d for d in shape if d != 1)


def is_trivial_view(node: Node) -> bool:
    """A view that only inserts, removes or moves unit dimensions."""
    (x,), y = node.inputs, node.out
    if squeeze(x.shape) != squeeze(y.shape):
        return False
    if node.prim is transpose_p:
        kept = [p for p in node.attrs["perm"] if x.shape[p] != 1]
        return kept == sorted(kept)
    return True


def reduced_axes(node: Node) -> tuple:
    """The input axes a reduction folds (`axes`, or argmax's single `axis`)."""
    return tuple(node.attrs["axes"]) if "axes" in node.attrs else (node.attrs["axis"],)


def default_fusible(prim: Primitive) -> bool:
    return prim.kind in ("elementwise", "reduction") and not prim.multiple_results


MAP, REDUCE, VIEW, OTHER = "map", "reduce", "view", "other"


def role(node: Node, fusible) -> str:
    prim = node.prim
    if prim in VIEWS:
        if is_trivial_view(node):
            return MAP
        return OTHER if prim is reshape_p else VIEW
    if fusible(prim):
        return MAP if prim.kind == "elementwise" else REDUCE
    return OTHER


# ---- partition -----------------------------------------------------------------

class _Regions:
    """Union-find over region ids; each root keeps a member bitmask and inputs."""

    def __init__(self):
        self.parent, self.mask, self.nodes, self.ext, self.domain = [], [], [], [], []

    def new(self, index, node, domain):
        r = len(self.parent)
        self.parent.append(r)
        self.mask.append(1 << r)
        self.nodes.append([index])
        self.ext.append(list(node.inputs))
        self.domain.append(domain)
        return r

    def find(self, r):
        while self.parent[r] != r:
            self.parent[r] = r = self.parent[self.parent[r]]
        return r

    def union(self, roots):
        root, *rest = roots
        for r in rest:
            self.parent[r] = root
            self.mask[root] |= self.mask[r]
            self.nodes[root] += self.nodes[r]
            self.ext[root] += self.ext[r]
        return root


def partition(graph: Graph, fusible=default_fusible):
    """Region id (root) per node index, for nodes in regions; see the module doc."""
    regions = _Regions()
    home = {}          # node index -> region id it was created in
    internal = {}      # var -> region id, for values usable inside their region
    reach = {}         # var -> bitmask of region ids with a path to it in the original graph
    made_by = {}       # var -> index of the node that produces it
    for i, node in enumerate(graph.nodes):
        upstream = 0
        for v in node.inputs:
            upstream |= reach.get(v, 0)
        kind = role(node, fusible)
        for v in node.outputs:
            made_by[v] = i
        if kind in (MAP, REDUCE):
            shape = node.inputs[0].shape if kind == REDUCE else node.out.shape
            r = home[i] = regions.new(i, node, squeeze(shape))
            candidates = []
            for v in node.inputs[:1] if kind == REDUCE else node.inputs:
                c = internal.get(v)
                if c is not None:
                    c = regions.find(c)
                    if c not in candidates and regions.domain[c] == regions.domain[r]:
                        candidates.append(c)
            chosen = [r]
            for c in candidates:
                if _convex(graph, regions, chosen + [c], internal, reach, made_by, home):
                    chosen.append(c)
            root = regions.union(chosen)
            bit = 1 << r
            for v in node.outputs:
                reach[v] = upstream | bit
                if kind == MAP:
                    internal[v] = root
        else:
            for v in node.outputs:
                reach[v] = upstream
    return {i: regions.find(r) for i, r in home.items()}, regions


def _convex(graph, regions, roots, internal, reach, made_by, home) -> bool:
    """No external input of the merged set is reachable from the set, in the graph
    where every region is already contracted to one node."""
    mask = 0
    for r in roots:
        mask |= regions.mask[r]
    outside = []
    for r in roots:
        for v in regions.ext[r]:
            owner = internal.get(v)
            if owner is not None and regions.mask[regions.find(owner)] & mask:
                continue                      # produced inside the merged set
            if reach.get(v, 0) & mask:        # a path in the original graph: quick reject
                return False
            outside.append(v)
    # Paths through other regions: a region consumes all inputs of all its members,
    # so walk back from the outside inputs through contracted regions.
    seen_nodes, seen_regions = set(), set()
    stack = outside
    while stack:
        i = made_by.get(stack.pop())
        if i is None or i in seen_nodes:
            continue
        seen_nodes.add(i)
        r = home.get(i)
        if r is None:
            stack.extend(graph.nodes[i].inputs)
            continue
        r = regions.find(r)
        if regions.mask[r] & mask:
            return False
        if r not in seen_regions:
            seen_regions.add(r)
            stack.extend(regions.ext[r])
    return True


# ---- building the fused graph ----------------------------------------------------

# Elementwise operations cheaper to recompute than to store and load again.
CHEAP = {"add", "sub", "mul", "neg", "square", "abs", "convert", "eq", "ne", "lt", "le", "gt",
         "ge", "select", "maximum", "minimum", "logical_not", "logical_and", "logical_or"}


def rematerialize(graph: Graph, fusible=default_fusible) -> Graph:
    """Give every consumer its own copy of a cheap elementwise node computed from
    graph inputs and constants only (`y*y` read by two loops), so each loop
    recomputes it from the inputs instead of one loop storing it for the other."""
    leaf = set(graph.inputs)
    for node in graph.nodes:
        if not node.inputs:
            leaf.update(node.outputs)
    users = {}
    for node in graph.nodes:
        for v in set(node.inputs):
            users.setdefault(v, []).append(node)
    copies = {}                # (var, consumer) -> the consumer's own copy
    nodes = []
    for node in graph.nodes:
        inputs = [copies.get((v, id(node)), v) for v in node.inputs]
        if inputs != list(node.inputs):
            node = Node(node.prim, inputs, node.outputs, node.attrs, node.meta)
        (out,) = node.outputs if len(node.outputs) == 1 else (None,)
        dup = (out is not None and node.prim.name in CHEAP and fusible(node.prim)
               and all(v in leaf for v in node.inputs) and out not in graph.outputs)
        for user in users.get(out, [])[1:] if dup else ():
            twin = _copy(node, node.inputs)
            copies[(out, id(user))] = twin.out
            nodes.append(twin)
        nodes.append(node)
    if not copies:
        return graph
    return Graph(graph.inputs, nodes, graph.outputs)


def fuse(graph: Graph, fusible=default_fusible) -> Graph:
    """Replace each region by one `fused` node whose `body` attribute is its sub-graph."""
    graph = rematerialize(graph, fusible)
    region_of, _ = partition(graph, fusible)
    made_by = {v: i for i, node in enumerate(graph.nodes) for v in node.outputs}
    members = {}
    for i, r in region_of.items():
        members.setdefault(r, []).append(i)
    used_outside = set(graph.outputs)
    for i, node in enumerate(graph.nodes):
        r = region_of.get(i)
        for v in node.inputs:
            p = made_by.get(v)
            if r is None or p is None or region_of.get(p) != r \
                    or graph.nodes[p].prim.kind == "reduction":
                used_outside.add(v)
    producer = {v: graph.nodes[i] for v, i in made_by.items()}
    copyable = {id(n) for i, n in enumerate(graph.nodes)            # free to duplicate
                if i not in region_of and (role(n, fusible) == VIEW or not n.inputs)}
    units = []        # (first member index, node): sorted by it where dependencies allow
    for r, idx in members.items():
        nodes = [graph.nodes[i] for i in sorted(idx)]
        if all(n.prim in VIEWS for n in nodes):            # no compute: keep them plain
            units += [(i, graph.nodes[i]) for i in idx]
            continue
        units.append((min(idx), _fused_node(nodes, producer, used_outside, copyable)))
    units += [(i, _fuse_bodies(n, fusible)) for i, n in enumerate(graph.nodes)
              if i not in region_of]
    return dce(Graph(graph.inputs, _toposort(units), graph.outputs))


def _fuse_bodies(node, fusible) -> Node:
    """A control-flow node with its branch / loop bodies fused in turn."""
    if node.prim is fused_p or not any(True for _ in node.subgraphs()):
        return node

    def fused(value):
        if isinstance(value, Graph):
            return fuse(value, fusible)
        if isinstance(value, tuple):
            return tuple(fused(v) for v in value)
        return value
    return Node(node.prim, node.inputs, node.outputs,
                {k: fused(v) for k, v in node.attrs.items()}, node.meta)


def _fused_node(nodes, producer, used_outside, copyable) -> Node:
    """The fused node for region members `nodes` (in topological order)."""
    inside = {v for n in nodes for v in n.outputs}
    body_nodes, env, inputs, outer_inputs = [], {}, [], []

    def value(v):                 # the body var for outer var v, copying views/constants
        if v in env:
            return env[v]
        p = producer.get(v)
        if p is not None and id(p) in copyable:
            new = _copy(p, [value(u) for u in p.inputs])
            body_nodes.append(new)
            env[v] = new.out
        elif v not in inside:
            env[v] = Var(v.type)
            inputs.append(env[v])
            outer_inputs.append(v)
        return env[v]

    for n in nodes:
        new = _copy(n, [value(u) for u in n.inputs])
        body_nodes.append(new)
        env.update(zip(n.outputs, new.outputs))
    outer_outputs = [v for n in nodes for v in n.outputs if v in used_outside]
    body = Graph(inputs, body_nodes, [env[v] for v in outer_outputs])
    phases = Counter(n.meta.get("phase", "forward") for n in nodes)
    meta = {"phase": phases.most_common(1)[0][0], "phases": tuple(sorted(phases))}
    return Node(fused_p, outer_inputs, outer_outputs, {"body": body}, meta)


def _copy(node, inputs) -> Node:
    return Node(node.prim, inputs, [Var(v.type) for v in node.outputs], node.attrs, node.meta)


def _toposort(units):
    """Kahn's algorithm, preferring original order; units are (position, node)."""
    made = {}
    for k, (_, node) in enumerate(units):
        for v in node.outputs:
            made[v] = k
    waiting = [0] * len(units)
    users = [[] for _ in units]
    for k, (_, node) in enumerate(units):
        deps = {made[v] for v in node.inputs if v in made}
        waiting[k] = len(deps)
        for d in deps:
            users[d].append(k)
    ready = [(units[k][0], k) for k in range(len(units)) if not waiting[k]]
    heapq.heapify(ready)
    order = []
    while ready:
        _, k = heapq.heappop(ready)
        order.append(units[k][1])
        for u in users[k]:
            waiting[u] -= 1
            if not waiting[u]:
                heapq.heappush(ready, (units[u][0], u))
    assert len(order) == len(units), "fusion produced a cycle"
    return order

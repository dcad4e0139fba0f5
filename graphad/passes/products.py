"""Products in the order a fused loop computes their factors, for a backend that fuses.

Reverse mode walks a chain of elementwise maps backwards. For W4's twenty layers
`v = 4*v*(1-v)` the adjoint of each layer is `g*(1-v)*4 - g*(4*v)`: it starts at the
last layer and needs both forward values of every layer, so a fused loop keeps 40
values of each element alive from the forward sweep to the backward one, more than
AVX-512's 32 registers, and spills about 30% of its vector instructions.

Two rewrites make that chain one running product, computed as the forward values
appear:
- factoring: `g*a*c - g*b` becomes `g*(a*c - b)` when both products are read only
  there (so nothing is recomputed and nodes only go away), and `a*c - b` moves up to
  right after its newest operand; then each layer's adjoint is `g * h`, with `h`
  computed as soon as that layer's forward values are;
- reassociation: a tree of multiplications whose inner products are read only by it
  becomes a left-to-right product of its factors in the order the graph defines them,
  each multiplication placed right after its newest factor. The backward chain
  `((h20*h19)*...)*h1` becomes `((h1*h2)*...)*h20`, accumulated layer by layer.
  Factors of the result's shape only, and one smaller factor (a constant, say) that
  goes last: each smaller factor costs a full-size product once mixed in, so a tree
  with more of them is left as written.

Both change rounding only: a product of n factors is within (n-1) roundings of the
exact value in any order, and a factored difference rounds once less. At the edge of
the float range an intermediate can overflow or underflow where the original did
not, or the other way round (`g*(a - b)` overflows for a = -b = 1e308, g = 0.5,
where `g*a - g*b` is 1e308), and an infinite factor meeting a zero term can give
inf where the original gave nan (g = inf, a = 1, b = 0: `inf - inf*0` is nan,
`inf*(1 - 0)` is inf; so does any infinite common factor with a != b), and a zero
result can change sign (g = -1, a = b = 1: `-1 - -1` is +0, `-1*(1 - 1)` is -0).
Hence a step of the Numba backend's preparation that `fastmath=False` turns off,
next to its vectorized math, not an ALGEBRA rule (simplify.py keeps every result as
IEEE gives it).
Floating-point operands of one dtype only; top-level nodes only.
"""
from __future__ import annotations

from collections import Counter

from ..ir import Graph, Node, Var
from ..prims import elementwise as E
from .dce import dce
from .subgraphs import use_counts

MAX_TERM_FACTORS = 4            # factoring takes at most this many factors of a product


def schedule_products(graph: Graph) -> Graph:
    out = _reassociate(dce(_factor(graph)))
    return graph if out.nodes == graph.nodes else dce(out)


class _Slots:
    """A graph's nodes, each with the new nodes to place right after it (index -1: before
    all of them). A new node goes right after its newest operand, so a value is
    computed as soon as its operands are."""

    def __init__(self, graph):
        self.graph = graph
        self.pos = {v: i for i, n in enumerate(graph.nodes) for v in n.outputs}
        self.slots = [[n] for n in graph.nodes] + [[]]      # [-1]: before the first node

    def emit(self, prim, a, b, meta, out=None) -> Var:
        out = out or Var(prim.infer(a.type, b.type))
        at = max(self.pos.get(a, -1), self.pos.get(b, -1))
        self.slots[at].append(Node(prim, (a, b), (out,), {}, meta))
        self.pos[out] = at
        return out

    def product(self, factors, meta, out=None) -> Var:
        acc = factors[0]
        for k, f in enumerate(factors[1:], 2):
            acc = self.emit(E.mul_p, acc, f, meta, out if k == len(factors) else None)
        return acc

    def graph_with(self, outputs) -> Graph:
        nodes = self.slots[-1] + [n for slot in self.slots[:-1] for n in slot]
        return Graph(self.graph.inputs, nodes, outputs)


def _same_float(vars_, dtype) -> bool:
    return dtype.kind == "f" and all(v.dtype == dtype for v in vars_)


# ---- factoring ----------------------------------------------------------------------

def _factor(graph: Graph) -> Graph:
    uses = use_counts(graph)
    producer = {v: n for n in graph.nodes for v in n.outputs}
    slots, rename = _Slots(graph), {}

    def factors(v, depth=0):
        """v's factors through products read only here, left to right, looking at most
        MAX_TERM_FACTORS multiplications deep; None when v is not such a product."""
        node = producer.get(v)
        if depth == MAX_TERM_FACTORS or node is None or node.prim is not E.mul_p \
                or uses[v] != 1:
            return None
        found = []
        for u in (rename.get(w, w) for w in node.inputs):
            inner = factors(u, depth + 1)
            found += inner if inner is not None and len(found) + len(inner) < MAX_TERM_FACTORS \
                else [u]
        return found

    for i, node in enumerate(graph.nodes):
        if node.prim not in (E.add_p, E.sub_p):
            continue
        a, b = (factors(rename.get(v, v)) for v in node.inputs)
        if a is None or b is None or not _same_float(a + b, node.out.dtype):
            continue
        common = list((Counter(a) & Counter(b)).elements())
        if len(common) in (len(a), len(b)):
            common = common[:-1]          # both sides keep a factor: no constant 1 to make
        if not common:
            continue
        for f in common:
            a.remove(f)
            b.remove(f)
        diff_type = node.prim.infer(_product_type(a), _product_type(b))
        if E.mul_p.infer(_product_type(common), diff_type) != node.out.type:
            continue
        diff = slots.emit(node.prim, slots.product(a, node.meta), slots.product(b, node.meta),
                          node.meta)
        new = slots.emit(E.mul_p, slots.product(common, node.meta), diff, node.meta)
        slots.slots[i].remove(node)
        rename[node.out] = new
        uses[new] = uses[node.out]
        producer[new] = slots.slots[slots.pos[new]][-1]
    if not rename:
        return graph
    for slot in slots.slots:
        slot[:] = [_renamed(n, rename) for n in slot]
    return slots.graph_with([rename.get(v, v) for v in graph.outputs])


def _product_type(factors):
    t = factors[0].type
    for f in factors[1:]:
        t = E.mul_p.infer(t, f.type)
    return t


def _renamed(node, rename):
    if not any(v in rename for v in node.inputs):
        return node
    return Node(node.prim, [rename.get(v, v) for v in node.inputs], node.outputs, node.attrs,
                node.meta)


# ---- reassociation ------------------------------------------------------------------

def _reassociate(graph: Graph) -> Graph:
    uses = use_counts(graph)
    producer = {v: n for n in graph.nodes for v in n.outputs}
    user = {v: n for n in graph.nodes for v in n.inputs if uses[v] == 1}
    slots = _Slots(graph)

    def inner(v):           # a product read only by the multiplication above it
        n, u = producer.get(v), user.get(v)
        return n is not None and n.prim is E.mul_p and u is not None and u.prim is E.mul_p \
            and v.dtype == u.out.dtype

    def leaves(v):
        stack, found = [v], []
        while stack:
            w = stack.pop()
            if w is not v and not inner(w):
                found.append(w)
            else:
                stack += reversed(producer[w].inputs)
        return found

    changed = False
    for i, node in enumerate(graph.nodes):
        if node.prim is not E.mul_p or inner(node.out):
            continue
        factors = leaves(node.out)
        full = sorted((f for f in factors if f.shape == node.out.shape),
                      key=lambda f: slots.pos.get(f, -1))
        order = full + [f for f in factors if f.shape != node.out.shape]
        # factors of a smaller shape go last, one at most: each costs a full-size product
        if len(full) < 2 or len(order) - len(full) > 1 or \
                not _same_float(factors, node.out.dtype) or \
                _product_type(order) != node.out.type or \
                factors == order and _left_deep(node.out, producer, inner):
            continue
        slots.slots[i].remove(node)
        slots.product(order, node.meta, out=node.out)
        changed = True
    return slots.graph_with(graph.outputs) if changed else graph


def _left_deep(v, producer, inner) -> bool:
    """Each multiplication in v's tree has a leaf on its right."""
    while True:
        left, right = producer[v].inputs
        if inner(right):
            return False
        if not inner(left):
            return True
        v = left

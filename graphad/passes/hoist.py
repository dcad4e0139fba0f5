"""Loop-invariant code motion: work a `while` loop would repeat on values that never
change runs once, before the loop.

A `while` node's operands are its carry then its consts, and its cond and body
graphs take the same list. Inside them a value is loop-invariant when it is a
const, a carry the body returns unchanged, or computed only from invariant
values and constants. For each `while` this pass
  - turns every carry the body returns unchanged into a const (the loop's result
    for it is its initial value), so the loop stops carrying it and reverse mode
    stops taping it;
  - moves each node computing an invariant value from at least one of those out
    of the cond and body graphs, to just before the loop; the values the loop
    still reads become new consts (appended to both graphs' inputs). Constant
    nodes stay inside: they are free, a copy goes out with the nodes reading
    them. Nodes built from constants alone are folding's business, not ours;
  - drops the consts neither graph reads any more (in reverse mode each would
    cost a zero cotangent accumulated on every trip).
It leaves in place
  - control nodes and nodes carrying sub-graphs: a nested loop moved out of a
    loop that runs zero times might run long or forever. Their sub-graphs are
    still rewritten first, so code leaving an inner loop for the outer body moves
    further out in the same pass;
  - everything inside `cond` branches: moving it out would change which work
    runs, and could compute the NaN the branch guards against;
  - out of the body only, operations that raise on bad operands (`_may_raise`: gathers,
    LAPACK, integer powers): the body may run zero times. Every other operation is
    total, so moved out of a
    loop that runs zero times it computes a value nobody reads, at worst an inf or
    nan with a numpy floating-point warning, and every result is unchanged. The
    cond graph always runs at least once, so anything may leave it;
  - a `while` paired with a `while_vjp` over the same operands (reverse mode's
    rerun of that loop): the Numba backend runs such a pair as one taped loop
    only while both keep the same body, and the while_vjp's body adjoint would
    need rebuilding. `Staged.stage` hoists before reverse mode instead, so the
    pair is born sharing the hoisted body.
Linear in the number of nodes; each distinct sub-graph is rewritten once.
Hits: "hoist" per node moved, "invariant-carry" per carry turned into a const,
"unused-const" per const dropped.
"""
from __future__ import annotations

from collections import Counter

from ..ir import Graph, Node, Var
from .subgraphs import memoized, renamed

# np.take out of range; LAPACK on a singular, indefinite or non-finite matrix.
_MAY_RAISE = frozenset({"gather", "scatter_add", "solve", "cholesky", "slogdet", "eigh"})


def _may_raise(node) -> bool:
    """Whether `node` can raise rather than compute an inf or nan (see the docstring);
    integer powers raise on a negative exponent."""
    return node.prim.name in _MAY_RAISE or (node.prim.name == "pow" and not node.out.type.is_float)


def hoist(graph: Graph, hits: Counter | None = None) -> Graph:
    hits = Counter() if hits is None else hits
    sub = memoized(hoist, hits)
    twins = _twinned(graph.nodes)
    env, nodes = {}, []            # env: results of demoted carries -> their initial values
    changed = False
    for node in graph.nodes:
        new = renamed(node, env, sub)
        if new.prim.name == "while" and node not in twins:
            before, new, passed = _hoist_loop(new, hits)
            nodes += before
            env.update(passed)
        changed |= new is not node
        nodes.append(new)
    if not changed:
        return graph
    return Graph(graph.inputs, nodes, [env.get(v, v) for v in graph.outputs])


def _twinned(nodes) -> set:
    """The `while` nodes some `while_vjp` reruns (same carry count and operands)."""
    reruns = {(n.attrs["n_carry"], n.inputs[:len(n.attrs["body_graph"].inputs)])
              for n in nodes if n.prim.name == "while_vjp"}
    if not reruns:
        return set()
    return {n for n in nodes if n.prim.name == "while" and (n.attrs["n_carry"], n.inputs) in reruns}


def _hoist_loop(node: Node, hits):
    """(nodes to run before the loop, the new loop node, demoted result -> initial value)."""
    n = node.attrs["n_carry"]
    cond, body = node.attrs["cond_graph"], node.attrs["body_graph"]
    fixed = [i for i in range(n) if body.outputs[i] is body.inputs[i]]
    if len(fixed) == n:            # a loop that changes nothing: leave its shape alone
        fixed = []
    carry = [i for i in range(n) if i not in fixed]
    order = carry + fixed + list(range(n, len(node.inputs)))
    operands = [node.inputs[i] for i in order]
    n_new = len(carry)
    cond = Graph([cond.inputs[i] for i in order], cond.nodes, cond.outputs)
    body = Graph([body.inputs[i] for i in order], body.nodes, [body.outputs[i] for i in carry])

    before = []
    moved_c, needed_c, outer_c = _move_out(cond, n_new, operands, before, may_raise=True)
    moved_b, needed_b, outer_b = _move_out(body, n_new, operands, before, may_raise=False)
    # Both graphs take every new const: cond's first, then body's.
    cond = _without(cond, moved_c, needed_c + [Var(v.type) for v in needed_b])
    body = _without(body, moved_b, [Var(v.type) for v in needed_c] + needed_b)
    operands += outer_c + outer_b
    read = _reads(cond) | _reads(body)
    keep = [k for k in range(len(operands))
            if k < n_new or cond.inputs[k] in read or body.inputs[k] in read]
    dropped = len(operands) - len(keep)
    if not fixed and not moved_c and not moved_b and not dropped:
        return [], node, {}
    for key, count in (("hoist", len(moved_c) + len(moved_b)), ("invariant-carry", len(fixed)),
                       ("unused-const", dropped)):
        if count:
            hits[key] += count
    attrs = dict(node.attrs, cond_graph=_inputs(cond, keep), body_graph=_inputs(body, keep),
                 n_carry=n_new)
    loop = Node(node.prim, [operands[k] for k in keep], [node.outputs[i] for i in carry], attrs,
                node.meta)
    return before, loop, {node.outputs[i]: node.inputs[i] for i in fixed}


def _move_out(graph: Graph, n_carry, operands, before, may_raise):
    """Copy the invariant nodes of `graph` into `before`, reading the loop's operands.

    Returns (the nodes moved, their values the graph still reads, the outer copies
    of those values)."""
    invariant = set(graph.inputs[n_carry:])
    constants = {}                 # var -> its constant node inside the graph
    moved = []
    for node in graph.nodes:
        if node.prim.name == "constant":
            constants[node.out] = node
        elif (node.prim.kind != "control" and not any(node.subgraphs())
              and (may_raise or not _may_raise(node))
              and all(v in invariant or v in constants for v in node.inputs)
              and any(v in invariant for v in node.inputs)):
            moved.append(node)
            invariant.update(node.outputs)
    if not moved:
        return [], [], []
    outer = dict(zip(graph.inputs[n_carry:], operands[n_carry:]))
    for node in moved:
        for v in node.inputs:
            if v not in outer:     # a constant: copy it out too
                c = constants[v]
                outer[v] = Var(v.type)
                before.append(Node(c.prim, (), (outer[v],), c.attrs, c.meta))
        outs = tuple(Var(v.type) for v in node.outputs)
        before.append(Node(node.prim, [outer[v] for v in node.inputs], outs, node.attrs, node.meta))
        outer.update(zip(node.outputs, outs))
    produced = {v for node in moved for v in node.outputs}
    moved_set = set(moved)
    needed = {}                    # insertion-ordered set
    for node in graph.nodes:
        if node not in moved_set:
            needed.update((v, None) for v in node.inputs if v in produced)
    needed.update((v, None) for v in graph.outputs if v in produced)
    return moved, list(needed), [outer[v] for v in needed]


def _without(graph: Graph, moved, extra_inputs) -> Graph:
    """`graph` minus the `moved` nodes and the constants only they read, with
    `extra_inputs` appended (a moved value the graph still reads is its own input)."""
    if not moved and not extra_inputs:
        return graph
    moved_set = set(moved)
    kept = [node for node in graph.nodes if node not in moved_set]
    used = set(graph.outputs)
    for node in kept:
        used.update(node.inputs)
    kept = [node for node in kept if node.prim.name != "constant" or node.out in used]
    return Graph(list(graph.inputs) + list(extra_inputs), kept, graph.outputs)


def _reads(graph: Graph) -> set:
    read = set(graph.outputs)
    for node in graph.nodes:
        read.update(node.inputs)
    return read


def _inputs(graph: Graph, keep) -> Graph:
    """`graph` taking only the inputs at positions `keep` (the others are unread)."""
    if len(keep) == len(graph.inputs):
        return graph
    return Graph([graph.inputs[k] for k in keep], graph.nodes, graph.outputs)

"""The rewrite engine: patterns, rule tables, and the pass that applies a table.

A rule is a name, a pattern, an optional guard and a replacement:

    x = V("x")
    rule("mul-one", P.mul(x, one), fit(x))            # x*1 -> x

Patterns are small expression trees. `P.<primitive>(*args, **attrs)` matches a
node of that primitive (both operand orders for commutative ones); `V("x")`
matches any value and binds it (a name used twice must bind the same value);
`K("c")` matches a constant and binds its array; `Lit(1)` matches a constant
whose every element is 1; `A("axes")` in an attribute position binds the
attribute. A replacement is a bound variable, a template built the same way
(`P.neg(x)`), or a function of the match (`m.x`, `m.emit(prim, ...)`, ...).

A `Rules` table indexes its rules by root primitive. `rewrite(graph, rules)`
walks the graph once in order; each node, its inputs already rewritten, is
tried against the rules of its primitive and the first that matches replaces
it. Nodes a replacement emits are themselves rewritten (to a bounded depth),
so one walk usually reaches the fixpoint. A replacement whose type differs from
the matched value's is refused (`x * ones((3, 4))` with `x: f64[4]` is not `x`)
and counted as `<rule>:refused`. The matched nodes are left for DCE.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from ..errors import GraphadError
from ..ir import Const, Graph, Node, TensorType, Var
from ..prims import BY_NAME
from ..prims.creation import constant_p
from .facts import Facts, const_value, splat_value
from .subgraphs import memoized, renamed, use_counts

_BROADCAST_TO = BY_NAME["broadcast_to"]
COMMUTATIVE = frozenset({"add", "mul", "maximum", "minimum", "eq", "ne", "logical_and",
                         "logical_or"})
MAX_DEPTH = 6          # how deep replacements of replacements are rewritten in one walk


# ---- patterns ------------------------------------------------------------------------

class Pat:
    """A pattern; `match(var, m)` binds into the Match `m` and says whether it matched."""

    def match(self, var, m) -> bool:
        raise NotImplementedError


class V(Pat):
    """Any value; binds `name`. Used twice in a pattern, both must be the same value."""

    def __init__(self, name):
        self.name = name

    def match(self, var, m):
        return m.bind(self.name, var)

    def of(self, inner: "Pat") -> "As":
        """`V("t").of(P.mul(y, c))`: match `inner` and also bind the matched value."""
        return As(self.name, inner)

    def __repr__(self):
        return self.name


class As(Pat):
    def __init__(self, name, inner):
        self.name = name
        self.inner = inner

    def match(self, var, m):
        return self.inner.match(var, m) and m.bind(self.name, var)

    def __repr__(self):
        return f"{self.name}={self.inner!r}"


class K(Pat):
    """A constant (a `constant` node, or a broadcast of one); binds its compact array."""

    def __init__(self, name):
        self.name = name

    def match(self, var, m):
        value = const_value(var, m.rw.producer)
        return value is not None and m.bind(self.name, value, var)

    def __repr__(self):
        return f"K({self.name})"


class Lit(Pat):
    """A constant whose every element equals `value` (any dtype)."""

    def __init__(self, value):
        self.value = value

    def match(self, var, m):
        s = m.rw.splat(var)
        return s is not None and s.dtype.kind != "b" and bool(s == self.value)

    def __repr__(self):
        return repr(self.value)


class A:
    """An attribute variable: binds the attribute's value under `name`."""

    def __init__(self, name):
        self.name = name


class PNode(Pat):
    """A node of primitive `prim` with operand patterns `args` and attribute patterns."""

    def __init__(self, prim, args, attrs):
        self.prim = prim
        self.args = tuple(args)
        self.attrs = attrs

    def match(self, var, m):
        node = m.rw.producer.get(var)
        return node is not None and self.match_node(node, m)

    def match_node(self, node, m, swap=False):
        """Match at `node`. At the root the caller tries both operand orders of a
        commutative primitive (`swap`), each with the guard; below it, the first
        order that matches is taken."""
        if node.prim is not self.prim or len(node.outputs) != 1:
            return False
        if len(node.inputs) != len(self.args):
            return False
        for key, want in self.attrs.items():
            have = node.attrs.get(key)
            if isinstance(want, A):
                if not m.bind(want.name, have):
                    return False
            elif have != want:
                return False
        if swap:
            return self._match_args(node.inputs[::-1], m)
        if len(self.args) == 2 and self.prim.name in COMMUTATIVE and m.node is not node:
            saved = dict(m.bindings), dict(m.const_vars)
            if self._match_args(node.inputs, m):
                return True
            m.bindings, m.const_vars = saved
            return self._match_args(node.inputs[::-1], m)
        return self._match_args(node.inputs, m)

    def _match_args(self, inputs, m):
        return all(p.match(v, m) for p, v in zip(self.args, inputs))

    def __repr__(self):
        return f"{self.prim.name}({', '.join(map(repr, self.args))})"


class Custom(Pat):
    """A pattern given as a function `test(node, m) -> bool`, rooted at any of `roots`."""

    def __init__(self, roots, test):
        self.roots = tuple(BY_NAME[r] for r in roots)
        self.test = test

    def match_node(self, node, m, swap=False):
        return not swap and len(node.outputs) == 1 and self.test(node, m)


class _PrimPatterns:
    """`P.mul(x, y)`: a pattern (or template) node for the primitive named `mul`."""

    def __getattr__(self, name):
        if name.startswith("_") or name not in BY_NAME:
            raise AttributeError(f"no primitive named {name!r}")
        prim = BY_NAME[name]
        return lambda *args, **attrs: PNode(prim, args, attrs)


P = _PrimPatterns()


# ---- replacements --------------------------------------------------------------------

class Fit(Pat):
    """Template: `inner`, broadcast to the matched value's shape when it is smaller."""

    def __init__(self, inner):
        self.inner = inner


def fit(inner):
    return Fit(inner)


class C(Pat):
    """Template: a constant computed from the match, `C(lambda m: -m.c)`."""

    def __init__(self, compute):
        self.compute = compute


def _instantiate(template, m):
    """Emit the nodes a template describes; returns the var standing for it."""
    if isinstance(template, V):
        return m.bindings[template.name]
    if isinstance(template, K):
        return m.const_vars[template.name]
    if isinstance(template, Lit):
        return m.const(template.value)
    if isinstance(template, C):
        return m.const(template.compute(m))
    if isinstance(template, Fit):
        return m.fit(_instantiate(template.inner, m))
    if isinstance(template, PNode):
        inputs = [_instantiate(a, m) for a in template.args]
        attrs = {k: m.bindings[v.name] if isinstance(v, A) else v(m) if callable(v) else v
                 for k, v in template.attrs.items()}
        return m.emit(template.prim, *inputs, **attrs)
    raise TypeError(f"cannot build a replacement from {template!r}")


class Match:
    """The bindings of one successful match, and the tools a replacement builds with."""

    def __init__(self, rw, node):
        self.rw = rw
        self.node = node
        self.bindings = {}
        self.const_vars = {}
        self.pending = []

    def bind(self, name, value, var=None):
        old = self.bindings.get(name, _UNBOUND)
        if old is _UNBOUND:
            self.bindings[name] = value
            if var is not None:
                self.const_vars[name] = var
            return True
        if isinstance(old, np.ndarray) or isinstance(value, np.ndarray):
            return isinstance(old, np.ndarray) and isinstance(value, np.ndarray) and \
                old.shape == value.shape and bool(np.all(old == value))
        return old is value if isinstance(old, Var) else old == value

    def __getattr__(self, name):
        try:
            return self.__dict__["bindings"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def type(self):
        """The type of the matched value: what a replacement must have."""
        return self.node.outputs[0].type

    @property
    def facts(self) -> Facts:
        return self.rw.facts

    def used_once(self, var) -> bool:
        """Whether `var` has one consumer (counted in the input graph; a var made by
        this walk counts as used once). Rules that would duplicate work check it."""
        return self.rw.uses.get(var, 1) <= 1

    def emit(self, prim, *inputs, **attrs) -> Var:
        """A new node `prim(*inputs, **attrs)`, committed only if the rule succeeds."""
        types = prim.infer(*[v.type for v in inputs], **attrs)
        (out,) = (types,) if not isinstance(types, tuple) else types
        var = Var(out)
        self.pending.append(Node(prim, inputs, (var,), attrs, self.node.meta))
        return var

    def const(self, value, dtype=None) -> Var:
        """A constant of `dtype` (default: the matched value's dtype)."""
        a = np.asarray(value, dtype=dtype or self.type.dtype)
        return self.rw.constant(a, self)

    def fill(self, value) -> Var:
        """`value` in every element of the matched value's type: a broadcast scalar."""
        return self.fit(self.const(value))

    def fit(self, var) -> Var:
        """`var` broadcast to the matched shape (when it is smaller and broadcasts)."""
        shape = self.type.shape
        if var.type.shape == shape or var.type.dtype != self.type.dtype:
            return var
        try:
            if np.broadcast_shapes(var.type.shape, shape) != shape:
                return var                   # the type check will refuse it
        except ValueError:
            return var
        return self.emit(BY_NAME["broadcast_to"], var, shape=shape)


_UNBOUND = object()


# ---- rules and tables ----------------------------------------------------------------

_CONST = object()       # an operand requirement: produced by a constant (or its broadcast)


def _requirement(p):
    """What must produce an operand for `p` to have a chance: a primitive, _CONST or None."""
    if isinstance(p, As):
        return _requirement(p.inner)
    if isinstance(p, PNode):
        return p.prim
    if isinstance(p, (K, Lit)):
        return _CONST
    return None


def _meets(req, prim):
    if req is None:
        return True
    if req is _CONST:
        return prim is constant_p or prim is _BROADCAST_TO
    return req is prim


class Rule:
    __slots__ = ("name", "pattern", "replacement", "when", "orders")

    def __init__(self, name, pattern, replacement, when=None):
        self.name = name
        self.pattern = pattern
        self.replacement = replacement
        self.when = when
        self.orders = self._orders()

    def _orders(self):
        """(swap, operand requirements) for each operand order worth trying at the root:
        a cheap filter on the producers of the root's operands before matching."""
        p = self.pattern
        if not isinstance(p, PNode):
            return ((False, None),)
        reqs = tuple(_requirement(a) for a in p.args)
        if len(p.args) == 2 and p.prim.name in COMMUTATIVE:
            return ((False, reqs), (True, reqs))
        return ((False, reqs),)

    def candidates(self, kinds):
        """The operand orders whose requirements the operand producers `kinds` meet."""
        for swap, reqs in self.orders:
            if reqs is None:
                yield swap
                continue
            ks = kinds[::-1] if swap else kinds
            if len(ks) == len(reqs) and all(_meets(r, k) for r, k in zip(reqs, ks)):
                yield swap

    @property
    def roots(self):
        if isinstance(self.pattern, Custom):
            return self.pattern.roots
        return (self.pattern.prim,)

    def build(self, m) -> Var | None:
        """The replacement var, or None when the replacement declines."""
        if callable(self.replacement) and not isinstance(self.replacement, Pat):
            return self.replacement(m)
        return _instantiate(self.replacement, m)

    def __repr__(self):
        return f"<rule {self.name}: {self.pattern!r}>"


def rule(name, pattern, replacement, when=None) -> Rule:
    return Rule(name, pattern, replacement, when)


class Rules:
    """A named table of rules, indexed by the primitive at the root of each pattern."""

    def __init__(self, name, rules):
        self.name = name
        self.rules = tuple(rules)
        names = [r.name for r in self.rules]
        assert len(set(names)) == len(names), f"{name}: two rules share a name"
        self.by_root = {}
        for r in self.rules:
            for prim in r.roots:
                self.by_root.setdefault(prim, []).append(r)
        self._plans = {}

    def plan(self, prim, kinds):
        """[(rule, swap)] worth matching at a `prim` node whose operands are produced by
        primitives `kinds`: computed once per distinct (prim, kinds), then looked up."""
        key = (prim, kinds)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = [(r, swap) for r in self.by_root.get(prim, ())
                                       for swap in r.candidates(kinds)]
        return plan

    def __iter__(self):
        return iter(self.rules)

    def __len__(self):
        return len(self.rules)

    def __getitem__(self, name):
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(name)

    def __add__(self, other):
        return Rules(f"{self.name}+{other.name}", self.rules + other.rules)


# ---- the pass --------------------------------------------------------------------------

class _Rewriter:
    def __init__(self, rules: Rules, hits: Counter, uses: Counter):
        self.rules = rules
        self.uses = uses
        self.hits = hits
        self.nodes = []
        self.env = {}                    # old var -> the var now standing for it
        self.producer = {}               # var -> node, over the graph being built
        self.constants = {}              # Const -> var, constants already in the graph
        self.splats = {}
        self.facts = Facts(self.producer)
        self.changed = False
        self.subgraph = memoized(lambda g, hits: rewrite(g, self.rules, hits), hits)

    def splat(self, var):
        s = self.splats.get(var, _UNBOUND)
        if s is _UNBOUND:
            s = self.splats[var] = splat_value(var, self.producer)
        return s

    def constant(self, array, m) -> Var:
        c = Const(array)
        var = self.constants.get(c)
        if var is None:
            var = Var(TensorType(array.shape, array.dtype))
            m.pending.append(Node(constant_p, (), (var,), {"value": c}, m.node.meta))
        return var

    def visit(self, node):
        new = renamed(node, self.env, self.subgraph)
        self.changed |= new is not node
        self.add(new, 0)

    def add(self, node, depth):
        """Append `node` (inputs already remapped), or the replacement a rule gives."""
        if node.prim in self.rules.by_root and depth <= MAX_DEPTH and len(node.outputs) == 1:
            producer = self.producer
            kinds = tuple(p.prim if (p := producer.get(v)) is not None else None
                          for v in node.inputs)
            for r, swap in self.rules.plan(node.prim, kinds):
                m = Match(self, node)
                if r.pattern.match_node(node, m, swap) and (r.when is None or r.when(m)):
                    var = self._replace(r, m, node, depth)
                    if var is not None:
                        self.env[node.outputs[0]] = var
                        return
        self.nodes.append(node)
        for v in node.outputs:
            self.producer[v] = node
        if node.prim is constant_p:
            self.constants.setdefault(node.attrs["value"], node.outputs[0])

    def _replace(self, r: Rule, m, node, depth):
        try:
            var = r.build(m)
        except (GraphadError, ValueError):   # a shape rule rejected what the replacement built
            self.hits[f"{r.name}:refused"] += 1
            return None
        if var is None:
            return None
        if var.type != node.outputs[0].type:
            self.hits[f"{r.name}:refused"] += 1
            return None
        for p in m.pending:
            self.add(Node(p.prim, tuple(self.env.get(v, v) for v in p.inputs), p.outputs,
                          p.attrs, p.meta), depth + 1)
        self.hits[r.name] += 1
        self.changed = True
        return self.env.get(var, var)


def rewrite(graph: Graph, rules: Rules, hits: Counter | None = None) -> Graph:
    """Apply `rules` over `graph` in one ordered walk; `graph` itself if nothing fired."""
    rw = _Rewriter(rules, hits if hits is not None else Counter(), use_counts(graph))
    for node in graph.nodes:
        rw.visit(node)
    if not rw.changed:
        return graph
    outputs = [rw.env.get(v, v) for v in graph.outputs]
    return Graph(graph.inputs, rw.nodes, outputs)

"""One fused region -> one loop nest over its static domain.

Every value of the region is a scalar local computed at the current index;
inputs are read by index arithmetic on static shapes (a broadcast dimension
reads index 0, a transpose permutes indices), so nothing is materialized
inside the region. Outputs are written once per element. A reduction keeps
its state in scalars declared just before the loop of its first reduced axis
(`sum(x*x)` reads x once and writes only the sum); when its reduced axes are
not innermost, the state lives in an array indexed by the kept axes.

Large regions run in parallel: `prange` over the outermost axis when no
reduction folds it, otherwise over a fixed number of chunks of that axis, each
with its own partial states, merged in chunk order afterwards (so results do
not depend on the thread count).
"""
from __future__ import annotations

import numpy as np

from ...passes.fusion import VIEWS, reduced_axes, squeeze
from ...prims.shape import broadcast_to_p, transpose_p
from . import interleave, scalar
from .alloc import array_text
from .reducers import BLOCK, initial_values, reducer, state_dtypes

CHUNKS = 16                 # parallel chunks for regions that reduce their outer axis
# A region runs in parallel when elements x (sum of per-element COST) exceeds
# PARALLEL_WORK. One cost unit is about 0.5 ns of serial work per element. Waking
# the sleeping worker threads costs ~60 us, so on 2 cores `prange` paid off from
# about 1M elements for a*b+c and 200k for exp(a)*b (benchmarks/bench_backend.py
# --threshold, this machine); the threshold sits between the two.
PARALLEL_WORK = 1 << 20
# Costs of graphad's vectorized math (vecmath.py; benchmarks/bench_vecmath.py: exp 0.7 ns,
# tanh ~1, sin/cos ~2.6 ns per element). Scoring tanh at libm's 16 ns made W3's small
# 128x256 regions parallel: two thread wake-ups cost it 14 % (1.10 vs 0.95 ms).
COST = {"exp": 2, "sigmoid": 3, "softplus": 5, "log": 2, "log1p": 3, "expm1": 3,
        "sin": 6, "cos": 6, "tan": 7, "tanh": 3, "sinh": 5, "cosh": 5, "arcsin": 20,
        "arccos": 20, "arctan": 20, "arctan2": 30, "arcsinh": 24, "arccosh": 24, "arctanh": 24,
        "exp2": 10, "log2": 10, "log10": 10, "pow": 30, "div": 4, "sqrt": 4, "fmod": 10,
        "logsumexp": 4}
# With fastmath=False the same functions are scalar libm calls.
LIBM_COST = dict(COST, exp=4, sigmoid=8, softplus=16, log=10, log1p=12, expm1=12, sin=18, cos=18,
                 tan=30, tanh=32, sinh=20, cosh=20, logsumexp=8)


class Region:
    """Generates the loop nest of one `fused` node; `emit()` returns its lines."""

    def __init__(self, node, names, ctx, index, rows=None):
        """`rows`: a run-time extent of the leading axis instead of the static one (the
        rows of one block, rowblock.py)."""
        self.node, self.body, self.ctx = node, node.attrs["body"], ctx
        self.r = index
        self.names = dict(zip(self.body.inputs, (names[v] for v in node.inputs)))
        self.outs = dict(zip(self.body.outputs, (names[v] for v in node.outputs)))
        self.label = names                          # printer names, for comments
        self.producer = {v: n for n in self.body.nodes for v in n.outputs}
        self.domain = _domain(self.body)
        if rows is not None:
            self.domain = (rows,) + tuple(self.domain[1:])
        self.nd = len(self.domain)
        self.loopvar = [f"i{self.r}_{j}" for j in range(self.nd)]
        self.values = {}                            # var -> scalar local name
        self.reductions = [n for n in self.body.nodes if n.prim.kind == "reduction"]
        self.mode = self._parallel_mode()
        self._ask_interleave()

    # ---- index arithmetic ---------------------------------------------------
    def position(self, shape):
        """Index expressions of the current domain point in an array of `shape`."""
        it = iter(self.loopvar)
        return ["0" if d == 1 else next(it) for d in shape]

    def read(self, var, idx):
        """Expression for `var` at index `idx` (one expression per dimension)."""
        if var in self.values:
            return self.values[var]
        node = self.producer.get(var)
        if node is None:
            name = self.names[var]
            return name if not var.shape else _at(name, idx)
        if not node.inputs:                             # a constant copied into the region
            value = node.attrs["value"].value
            if value.size == 1:
                return scalar.literal(value.reshape(()), value.dtype)
            name = self.ctx.constant(value)
            return _at(name, idx)
        (x,) = node.inputs
        return self.read(x, _view_index(node, idx))

    def operand_index(self, var, out_shape):
        """Index of `var` broadcast against the current point of an `out_shape` value."""
        pos = self.position(out_shape)
        off = len(out_shape) - len(var.shape)
        return ["0" if d == 1 else pos[k + off] for k, d in enumerate(var.shape)]

    # ---- scheduling -----------------------------------------------------------
    def _parallel_mode(self):
        if not self.nd or self.ctx.serial:
            return "serial"
        cost = sum(self._costs().get(n.prim.name, 1) for n in self.body.nodes if n.inputs)
        if int(np.prod(self.domain)) * cost < self.ctx.parallel_work:
            return "serial"
        if any(0 in self._axes(n) for n in self.reductions):
            return "chunks"
        return "outer"

    def _costs(self):
        return LIBM_COST if self.ctx.options.libm else COST

    def _ask_interleave(self):
        """A large region whose body is a long dependence chain asks the kernel to be
        compiled with interleaved loop iterations (interleave.py)."""
        if not all(isinstance(d, int) for d in self.domain) or \
                int(np.prod(self.domain)) < interleave.MIN_ELEMENTS:
            return
        depth = interleave.critical_path(self.body, self._costs())
        self.ctx.interleave = max(self.ctx.interleave, interleave.count(depth))

    def _axes(self, red):
        """Domain axes a reduction folds (unit dimensions do not count)."""
        (x,) = red.inputs
        dom = {}
        for k, d in enumerate(x.shape):
            if d != 1:
                dom[k] = len(dom)
        return sorted(dom[a] for a in reduced_axes(red) if a in dom)

    def _suffix(self, axes):
        s = self.nd
        while s > 0 and s - 1 in axes:
            s -= 1
        return s

    # ---- emission ---------------------------------------------------------------
    def emit(self):
        pre, inner, post = [], [], []
        opens = {k: [] for k in range(self.nd + 1)}     # lines before loop k opens
        opens["chunk"] = []                             # chunked mode: before the outer loop
        closes = {k: [] for k in range(self.nd + 1)}    # lines after loop k closes
        outer = dict(zip(self.body.outputs, self.node.outputs))
        returned = {v for v, o in outer.items() if o in self.ctx.returned}
        for node in self.body.nodes:
            var = node.outputs[0]
            if node.inputs and var.shape and (var in self.outs or node.prim.kind == "reduction"):
                name = self.outs.get(var) or self.ctx.ident(var)
                pre += self.ctx.empty(name, var.shape, var.dtype, self.node, var in returned)
        pairs = self._sincos_pairs()
        for node in self.body.nodes:
            if not node.inputs:
                continue
            if node not in pairs:
                inner.append(f"# {self.ctx.equation(node)}")
            if node.prim.kind == "reduction":
                self._reduction(node, pre, opens, inner, closes, post)
            elif node.prim in VIEWS:                      # index arithmetic, read lazily
                pass
            elif node in pairs:                 # sin and cos of one var: both at the first
                inner += self._sincos(node, pairs[node]) if pairs[node] else []
            else:
                args = [self.read(u, self.operand_index(u, node.out.shape)) for u in node.inputs]
                name = self.ctx.ident(node.out)
                lines, expr = scalar.lower(node, args, f"{name}_", self.ctx.math)
                inner += lines + [f"{name} = {expr}"]
                self.values[node.out] = name
            if node.out in self.outs and node.prim.kind != "reduction":
                idx = self.position(node.out.shape)
                out, value = self.outs[node.out], self.read(node.out, idx)
                inner.append(f"{_at(out, idx)} = {value}" if idx else f"{out} = {value}")
        return pre + self._nest(opens, inner, closes) + post

    def _sincos_pairs(self):
        """{first: second, second: None} for each sin and cos of the same var in this
        region: one sincos_f64 serves both with one argument reduction (LLVM shares the
        two only when no store comes between them: 1.8x on such a loop, nothing on W1's).
        Only with graphad's inline sin and cos, not libm's."""
        if (self.ctx.math.get("sin"), self.ctx.math.get("cos")) != ("sin_f64", "cos_f64"):
            return {}
        seen, pairs = {}, {}
        for node in self.body.nodes:
            if node.prim.name in ("sin", "cos"):
                twin = seen.get((node.inputs[0], "cos" if node.prim.name == "sin" else "sin"))
                if twin is not None and twin not in pairs:
                    pairs[twin], pairs[node] = node, None
                seen.setdefault((node.inputs[0], node.prim.name), node)
        return pairs

    def _sincos(self, first, second):
        """Lines computing both nodes, their equations above them, by one sincos_f64."""
        sin, cos = (first, second) if first.prim.name == "sin" else (second, first)
        (x,) = sin.inputs
        arg = self.read(x, self.operand_index(x, sin.out.shape))
        ns, nc = self.ctx.ident(sin.out), self.ctx.ident(cos.out)
        lines = [f"# {self.ctx.equation(first)}", f"# {self.ctx.equation(second)}"]
        self.values[sin.out], self.values[cos.out] = ns, nc
        if np.dtype(sin.out.dtype) == np.float64:
            return lines + [f"{ns}, {nc} = sincos_f64({arg})"]
        return lines + [f"{ns}_, {nc}_ = sincos_f64({arg})",      # float32: round each once
                        f"{ns} = {scalar.cast(ns + '_', sin.out.dtype)}",
                        f"{nc} = {scalar.cast(nc + '_', cos.out.dtype)}"]

    def _nest(self, opens, inner, closes):
        lines, depth = [], 0
        for k in range(self.nd):
            lines += _indent(opens[k], depth)
            var, n = self.loopvar[k], self.domain[k]
            if k == 0 and self.mode == "outer":
                lines.append(f"{'    ' * depth}for {var} in prange({n}):")
            elif k == 0 and self.mode == "chunks":
                chunks = min(CHUNKS, n)
                lines.append(f"for c{self.r} in prange({chunks}):")
                lines += _indent(opens["chunk"], 1)
                lines.append(f"    for {var} in range(c{self.r} * {n} // {chunks}, "
                             f"(c{self.r} + 1) * {n} // {chunks}):")
                depth += 1
            else:
                lines.append(f"{'    ' * depth}for {var} in range({n}):")
            depth += 1
        lines += _indent(opens[self.nd] + inner + closes[self.nd], depth)
        for k in reversed(range(self.nd)):
            depth -= 1
            if k == 0 and self.mode == "chunks":
                lines += _indent(closes[0], depth)
                depth -= 1
                continue
            lines += _indent(closes[k], depth)
        return lines

    def _reduction(self, node, pre, opens, inner, closes, post):
        (x,) = node.inputs
        out = self.outs.get(node.out) or self.ctx.ident(node.out)
        axes = self._axes(node)
        s = self._suffix(axes)
        kept = [j for j in range(self.nd) if j not in axes]
        chunked = self.mode == "chunks" and 0 in axes
        # Elements folded into each state: states are scalars over loops s.. (chunked: one
        # chunk of them), else arrays indexed by kept axes, loaded once per element (0: no
        # blocking). 0 too when an extent is a name (rowblock's rows, known at run time).
        extents = [self.domain[j] for j in axes]
        elements = 0
        if all(j >= s for j in axes) and not any(isinstance(d, str) for d in extents):
            elements = int(np.prod(extents)) // (min(CHUNKS, self.domain[0]) if chunked else 1)
        red = reducer(node.prim.name, x.dtype, elements, self.ctx.math)
        dtypes = state_dtypes(red, x.dtype)
        inits = initial_values(red, x.dtype)
        st = {suffix: f"{out}_{suffix}" for suffix, _, _ in red.states}
        fmt = dict(st, v=self.read(x, self.position(x.shape)), k=self._arg_index(node),
                   buf=f"{out}_buf", n=f"{out}_n", B=min(BLOCK, elements),
                   **{f"{k}2": f"{st[k]}2" for k in st}, **self.ctx.math)
        final = scalar.cast(red.final.format(**st, **self.ctx.math), node.out.dtype)
        if red.flush:       # a buffer per thread, refilled from empty for each state
            start = opens["chunk" if chunked else s]
            where = pre if self.mode == "serial" else start
            where.append(f"{fmt['buf']} = {array_text(fmt['B'], np.float64)}")
            start.append(f"{fmt['n']} = 0")
            closes[s] += red.flush.format(**fmt).split("\n")
        if not chunked and all(j >= s for j in axes):          # states are plain scalars
            opens[s] += [f"{st[k]} = {init}" for k, init in zip(st, inits)]
            inner.extend(red.update.format(**fmt).split("\n"))
            closes[s].append(self._store(node, out, [self.loopvar[j] for j in kept], final))
            return
        # states persist across iterations of a kept axis: arrays indexed by kept axes
        shape = tuple(self.domain[j] for j in kept)
        home = [self.loopvar[j] for j in kept if j < s]
        if chunked:
            shape, home = (min(CHUNKS, self.domain[0]),) + shape, [f"c{self.r}"] + home
        arrays = {k: f"{st[k]}_a" for k in st}
        for (k, a), dtype, init in zip(arrays.items(), dtypes, inits):
            pre += self.ctx.empty(a, shape, dtype, self.node) + [f"{a}[...] = {init}"]
        where = f"[{', '.join(home)}]" if home else "[()]"
        level = "chunk" if chunked and s == 0 else s        # inside the chunk, before its loop
        opens[level] += [f"{st[k]} = {a}{where}" for k, a in arrays.items()]
        inner.extend(red.update.format(**fmt).split("\n"))
        closes[s] += [f"{a}{where} = {st[k]}" for k, a in arrays.items()]
        # after the nest: merge chunks, then the final value per kept index
        kvars = [f"j{self.r}_{j}" for j in kept]
        idx = ", ".join(kvars)
        body = []
        if chunked:
            c = f"c{self.r}"
            lead = f"[0, {idx}]" if idx else "[0]"
            rest = f"[{c}, {idx}]" if idx else f"[{c}]"
            body += [f"{st[k]} = {a}{lead}" for k, a in arrays.items()]
            body += [f"for {c} in range(1, {shape[0]}):"]
            body += [f"    {st[k]}2 = {a}{rest}" for k, a in arrays.items()]
            body += _indent(red.merge.format(**st, **{f"{k}2": f"{st[k]}2" for k in st},
                                             **self.ctx.math).split("\n"), 1)
        else:
            body += [f"{st[k]} = {a}[{idx or '()'}]" for k, a in arrays.items()]
        body.append(self._store(node, out, kvars, final))
        loops = []
        for depth, (v, j) in enumerate(zip(kvars, kept)):
            loops.append(f"{'    ' * depth}for {v} in range({self.domain[j]}):")
        post += loops + _indent(body, len(loops))

    def _store(self, node, out, kept_vars, value):
        """Store a reduction's final value at the output index of the kept axes."""
        it = iter(kept_vars)
        idx = ["0" if d == 1 else next(it) for d in node.out.shape]
        return f"{_at(out, idx)} = {value}" if idx else f"{out} = {value}"

    def _arg_index(self, node):
        if "axis" not in node.attrs:
            return "0"
        (x,) = node.inputs
        a = node.attrs["axis"]
        if x.shape[a] == 1:
            return "0"
        return self.position(x.shape)[a]


def _domain(body):
    for node in body.nodes:
        if node.prim.kind == "reduction":
            return squeeze(node.inputs[0].shape)
        if node.inputs and node.prim not in VIEWS:
            return squeeze(node.out.shape)
    return squeeze(body.outputs[0].shape)


def _at(name, idx) -> str:
    """`name` subscripted by loop indices. They are never negative, but Numba cannot know
    that in a prange body (its bounds arrive as parameters) and wraps a signed index that
    might be: the select made every load a gather and W1's parallel loop 1.7x slower.
    An unsigned index has no wrap-around."""
    return f"{name}[{', '.join(i if i == '0' else f'np.uint64({i})' for i in idx)}]"


def _view_index(node, idx):
    """Index into a view's input for index `idx` into the view."""
    (x,), y = node.inputs, node.out
    if node.prim is transpose_p:
        out = [None] * len(idx)
        for j, p in enumerate(node.attrs["perm"]):
            out[p] = idx[j]
        return out
    if node.prim is broadcast_to_p:
        off = len(y.shape) - len(x.shape)
        return ["0" if d == 1 else idx[k + off] for k, d in enumerate(x.shape)]
    kept = iter([i for i, d in zip(idx, y.shape) if d != 1])     # a reshape of unit dims
    return ["0" if d == 1 else next(kept) for d in x.shape]


def _indent(lines, depth):
    pad = "    " * depth
    return [pad + line for line in lines]

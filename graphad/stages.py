"""The stages of one staged function for one signature: what `inspect` returns."""
from __future__ import annotations


def fused_stage(optimized, backend: str, fastmath=True):
    """What `backend` compiles for the optimized graph (custom VJPs inlined)."""
    from .backends import prepare
    from .passes.inline_custom import inline_custom_calls
    return prepare(inline_custom_calls(optimized), backend, fastmath)


class Stages:
    """traced -> adjoint -> optimized -> fused, with the pass records.

    `traced` is the user's function as traced (forward only), `adjoint` adds
    the derivative computation (equal to `traced` for plain compilation),
    `optimized` is the pass pipeline's output and `fused` what the backend
    compiles.
    """

    NAMES = ("traced", "adjoint", "optimized", "fused")

    def __init__(self, traced, adjoint, optimized, fused, records, out_tree, captured,
                 fastmath=True):
        self.traced = traced
        self.adjoint = adjoint
        self.optimized = optimized
        self.fused = fused
        self.fastmath = fastmath    # what `fused` was prepared with
        self.records = records
        self.out_tree = out_tree
        self.captured = captured
        self._executables = {}
        self.name = None            # display only, set by `describe`
        self.input_names = None
        self.wrt = None

    def describe(self, fun, traced, argnums=None):
        """Record, for display, the user's names of inputs and outputs and which
        inputs are differentiated (`argnums` of grad; None for plain compile)."""
        from .render import remember
        from .viz.names import input_names, output_names

        self.name = getattr(fun, "__name__", None)
        self.input_names = input_names(fun, traced)
        if argnums is not None:
            argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
            self.wrt = tuple(i for a in argnums if a in traced.arg_ranges
                             for i in range(*traced.arg_ranges[a]))
        for name, graph in self.graphs().items():
            if len(graph.inputs) != len(self.input_names):
                continue
            if name == "traced":
                outs = output_names(traced.out_tree, graph)
            else:
                outs = output_names(self.out_tree, graph, self.input_names, self.wrt)
            remember(graph, input_names=self.input_names, wrt=self.wrt, output_names=outs)
        return self

    def graphs(self):
        return {name: getattr(self, name) for name in self.NAMES}

    def executable(self, backend: str, fastmath=True):
        """The compiled graph; `fastmath=False`: Numba calls libm (numpy has one math)."""
        key = (backend, fastmath or backend == "numpy")
        exe = self._executables.get(key)
        if exe is None:
            from .backends import compile_graph
            if backend == "numpy":
                exe = compile_graph(self.optimized, backend)
            else:
                fused = self.fused if fastmath == self.fastmath else \
                    fused_stage(self.optimized, backend, fastmath)
                exe = compile_graph(fused, backend, libm=not fastmath)
            self._executables[key] = exe
        return exe

    def stats(self) -> "StageStats":
        return StageStats(self)

    def render(self, directory, format="svg", **options):
        from .render import render_stages
        return render_stages(self, directory, format=format, **options)

    def _repr_html_(self):
        from .render import stages_html
        return stages_html(self)

    def __repr__(self):
        counts = ", ".join(f"{n}={getattr(self, n).count_nodes()}" for n in self.NAMES)
        return f"<Stages {counts}>"


class StageStats:
    """Node counts per stage and the pass pipeline's record; prints as a table."""

    def __init__(self, stages: Stages):
        self.nodes = {name: g.count_nodes() for name, g in stages.graphs().items()}
        self.passes = list(stages.records)

    def __str__(self):
        lines = ["stage        nodes"]
        lines += [f"{name:<12} {count:>5}" for name, count in self.nodes.items()]
        if self.passes:
            w = max(13, *(len(r["pass"]) for r in self.passes))
            lines += ["", f"{'pass':<{w}} round  before  after   time      what it did"]
            lines += [f"{r['pass']:<{w}} {r['round']:>5} {r['before']:>7} {r['after']:>6} "
                      f"{r['seconds'] * 1e3:>6.2f} ms  "
                      + ", ".join(f"{k} {n}" for k, n in sorted(r.get("hits", {}).items()))
                      for r in self.passes]
        return "\n".join(line.rstrip() for line in lines)

    __repr__ = __str__

"""Callable results of the Numba backend."""
from __future__ import annotations

import logging
import threading

import numpy as np
from numba.core.compiler_lock import global_compiler_lock
from numba.core.errors import NumbaError

from ... import cache
from ...ir import Graph
from ..numpy import evaluate
from . import interleave
from .codegen import generate

log = logging.getLogger("graphad")


class NumbaExecutable:
    """One compiled kernel for one graph.

    `run(*leaves)` takes the graph's inputs (arrays or scalars) and returns the
    outputs as a tuple; shape-() outputs come back as numpy scalars of their
    dtype (Numba returns Python floats, which would drop float32).
    `__call__(list)` is the backend-neutral form the stages use.

    `kernel(*leaves, *constants)` runs the machine code: the Numba dispatcher
    itself, or, when the kernel has workspace parameters (codegen's docstring), a
    wrapper that appends the calling thread's workspace, allocated on its first call.
    Threads never share a workspace, and the kernel never returns one.

    Should Numba reject the generated code (a backend bug, never the user's), the
    executable logs a warning, records why in `fallback` and evaluates the graph
    with numpy instead, unless `strict` (as the backend's own tests ask).
    """

    def __init__(self, graph: Graph, kernel, strict=False):
        self.graph = graph
        self.source = kernel.source
        self.constants = tuple(kernel.constants)
        self.parallel = kernel.parallel
        self.workspace = tuple(kernel.workspace)       # (shape, dtype) per workspace parameter
        self.interleave = kernel.interleave
        self.dispatcher = cache.load_kernel(kernel.source)
        self.kernel = _with_workspace(self.dispatcher, self.workspace)
        self.out_index = tuple(kernel.out_index)
        converters = {}
        for v, j in zip(graph.outputs, self.out_index):
            converters[j] = v.dtype.type if not v.shape else None
        self.converters = tuple(converters[j] for j in range(len(converters)))
        self._checked = False
        self.strict = strict
        self.fallback = None

    def run(self, *leaves):
        if self._checked:
            try:
                return self._outputs(self.kernel(*leaves, *self.constants))
            except TypeError:
                # Compiling is off after the first run, so arrays of another layout (a
                # strided view where a contiguous array was compiled for: graphad's
                # signatures do not tell them apart) land here and compile as a first
                # run does: with the kernel's interleave count and its numpy fallback.
                if self.fallback is not None or not self.dispatcher.signatures:
                    raise
        return self._first_run(leaves)

    def _outputs(self, results):
        results = [r if c is None else c(r) for r, c in zip(results, self.converters)]
        return tuple(results[j] for j in self.out_index)

    def _first_run(self, leaves):
        try:
            outs = self._compile_and_run(leaves)
        except NumbaError as e:
            if self.strict:
                raise
            self.fallback = f"{type(e).__name__}: {str(e).strip().splitlines()[0]}"
            log.warning("numba backend: Numba rejected the kernel %s (%s); evaluating this "
                        "graph with numpy instead", getattr(self.dispatcher, "graphad_path", "?"),
                        self.fallback)
            self.kernel = self.dispatcher = self._numpy_kernel()
            outs = self.kernel(*leaves)
        self._checked = True
        return self._outputs(outs)

    def _compile_and_run(self, leaves):
        # Under Numba's compiler lock: another thread's first call must not turn compiling
        # off between this one turning it on and compiling.
        with global_compiler_lock:
            return self._compile_and_run_locked(leaves)

    def _compile_and_run_locked(self, leaves):
        self.dispatcher.disable_compile(False)
        try:
            with interleave.forced(self.interleave):
                try:
                    return self.kernel(*leaves, *self.constants)
                except Exception:
                    # A damaged entry of Numba's own cache fails before anything is compiled
                    # or loaded: drop it and compile afresh. Other errors are the caller's.
                    if self.dispatcher.signatures or not cache.has_numba_cache(self.dispatcher):
                        raise
                    self.dispatcher = cache.reload_without_numba_cache(self.dispatcher)
                    self.kernel = _with_workspace(self.dispatcher, self.workspace)
                    return self.kernel(*leaves, *self.constants)
        finally:
            if self.dispatcher.signatures:     # Numba refuses to disable with none
                self.dispatcher.disable_compile(True)

    def _numpy_kernel(self):
        """The kernel's calling convention, computed by the numpy oracle."""
        graph, first = self.graph, {}
        for k, j in enumerate(self.out_index):
            first.setdefault(j, k)
        n = len(graph.inputs)

        def kernel(*args):
            outs = evaluate(graph, args[:n])
            return tuple(np.asarray(outs[first[j]], graph.outputs[first[j]].dtype)
                         .reshape(graph.outputs[first[j]].shape) for j in range(len(first)))
        self.constants = self.workspace = ()
        return kernel

    def __call__(self, args):
        return list(self.run(*args))

    def entry_point(self, leaves):
        """The machine code's own entry for these argument types, which skips Numba's
        type dispatch (70 ns a call), or None. Only for all-scalar arguments: a caller
        that has checked their exact types (graphad.cache.make_guard) cannot pass an
        array whose layout differs from the compiled one."""
        import numba
        if self.fallback or self.constants or self.workspace or \
                any(isinstance(x, np.ndarray) for x in leaves):
            return None
        compiled = self.dispatcher.overloads.get(tuple(numba.typeof(x) for x in leaves))
        return compiled.entry_point if compiled is not None else None


def _with_workspace(dispatcher, workspace):
    """`dispatcher`, called with the calling thread's workspace arrays appended."""
    if not workspace:
        return dispatcher
    local = threading.local()

    def kernel(*args):
        try:
            arrays = local.arrays
        except AttributeError:          # this thread's first call
            arrays = local.arrays = tuple(np.empty(shape, dtype) for shape, dtype in workspace)
        return dispatcher(*args, *arrays)
    return kernel


class SplitExecutable:
    """Stopgap for graphs with nodes the backend cannot lower: runs maximal runs
    of lowerable nodes as compiled kernels and the others with their numpy
    implementation, in graph order."""

    def __init__(self, graph: Graph, options, native):
        self.graph = graph
        self.steps = []
        run = []
        for i, node in enumerate(graph.nodes):
            if native(node):
                run.append(node)
                continue
            if run:
                self.steps.append(self._piece(run, graph.nodes[i:], graph.outputs, options))
                run = []
            self.steps.append(("numpy", node))
        if run:
            self.steps.append(self._piece(run, (), graph.outputs, options))

    @staticmethod
    def _piece(nodes, later, outputs, options):
        made = {v for n in nodes for v in n.outputs}
        inputs = []
        for n in nodes:
            for v in n.inputs:
                if v not in made and v not in inputs:
                    inputs.append(v)
        needed = {v for n in later for v in n.inputs} | set(outputs)
        outs = [v for n in nodes for v in n.outputs if v in needed]
        sub = Graph(inputs, nodes, outs)
        return ("numba", (NumbaExecutable(sub, generate(sub, options)), inputs, outs))

    def __call__(self, args):
        env = dict(zip(self.graph.inputs, args))
        with np.errstate(all="ignore"):
            for kind, step in self.steps:
                if kind == "numba":
                    exe, inputs, outs = step
                    env.update(zip(outs, exe.run(*[env[v] for v in inputs])))
                else:
                    out = step.prim.impl(*[env[v] for v in step.inputs], **step.attrs)
                    env.update(zip(step.outputs, out if step.prim.multiple_results else (out,)))
        return [np.asarray(env[v], dtype=v.dtype).reshape(v.shape) for v in self.graph.outputs]

    def run(self, *leaves):
        return tuple(o[()] if o.ndim == 0 else o for o in self(list(leaves)))

"""The implementations a comparison times, each behind one small interface.

An implementation (`Impl`: a `name` and `prepare(task)`) turns a `Task` into a
`Runner`, or raises `Unavailable` with the reason it cannot take part (a peer
that is not installed, an operation it cannot express). A runner holds the
arguments converted to the implementation's own array type (not timed) and a
`build()` that creates its gradient function (timed together with the first
call, which is where tracing and compiling happen).

Bundled: graphad eager, graphad compiled (whatever `graphad.compile` defaults
to), a hand-written numpy gradient when the task has one, and the peers JAX
(`jax.jit(jax.grad)`), HIPS autograd and PyTorch eager. The peers run the
function's graphad-traced forward graph with their own operations (see
lowering.py) and differentiate it themselves.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..tree import tree_flatten, tree_leaves, tree_map


@dataclass(frozen=True)
class Training:
    """A whole training run: `steps` of sgd on argument `argnums` (autograd's
    `misc.optimizers.sgd`: v = mass*v - (1-mass)*g; x = x + step_size*v)."""
    steps: int
    step_size: float
    mass: float = 0.0


@dataclass
class Task:
    """What to time: the gradient of `fun(*args)` w.r.t. `argnums`, or a training run."""
    fun: Callable
    args: tuple
    argnums: Any = 0
    train: Training | None = None
    hand_grad: Callable | None = None     # hand-written numpy gradient, same signature as fun
    name: str = ""


class Unavailable(Exception):
    """This implementation cannot run the task; the message says why."""


class Runner:
    """An implementation prepared for one task.

    build() -> grad_fn: the implementation's gradient function, grad_fn(*args)
    args: positional arguments in the implementation's array type
    param: which of `args` a training run updates
    leaves(result) -> list of numpy arrays, in graphad's pytree leaf order
    sync(result): waits for asynchronous results (JAX)
    note: shown in the table's notes (e.g. the backend)
    """

    def __init__(self, build, args, leaves, param=0, sync=None, note=""):
        self.build = build
        self.args = tuple(args)
        self.leaves = leaves
        self.param = param
        self.sync = sync or (lambda result: result)
        self.note = note

    def unit(self, grad_fn, train: Training | None):
        """The timed unit of work: one gradient call, or one whole training run."""
        if train is None:
            return lambda: self.sync(grad_fn(*self.args))
        return lambda: self.sync(train_loop(grad_fn, self.args, self.param, train))


def train_loop(grad_fn, args, param, train: Training):
    """Run `train.steps` of sgd on args[param]; arithmetic in the implementation's own arrays."""
    args = list(args)
    params = args[param]
    step, mass = train.step_size, train.mass
    velocity = tree_map(lambda p: p * 0.0, params) if mass else None
    for _ in range(train.steps):
        args[param] = params
        g = grad_fn(*args)
        if mass:
            velocity = tree_map(lambda v, d: mass * v - (1.0 - mass) * d, velocity, g)
            params = tree_map(lambda p, v: p + step * v, params, velocity)
        else:
            params = tree_map(lambda p, d: p - step * d, params, g)
    return params


def _numpy_leaves(result):
    return [np.asarray(leaf) for leaf in tree_leaves(result)]


def _single_argnum(task):
    if task.train is not None and not isinstance(task.argnums, int):
        raise Unavailable("a training run updates one argument: argnums must be an int")
    return task.argnums


# ---- graphad ---------------------------------------------------------------------

class GraphadEager:
    name = "eager"
    description = "graphad.eager.grad: op by op on numpy with a tape"

    def prepare(self, task):
        from .. import eager
        return Runner(lambda: eager.grad(task.fun, task.argnums), task.args, _numpy_leaves,
                      param=_single_argnum(task))


class GraphadCompiled:
    name = "compiled"
    description = "graphad.compile(graphad.grad(f))"

    def __init__(self, backend=None, name="compiled"):
        self.backend = backend      # None: whatever graphad.compile defaults to
        self.name = name            # a second instance needs its own column name

    @property
    def imports(self):
        """Modules graphad imports on first use, imported before a first call is timed."""
        from ..backends import DEFAULT_BACKEND
        return ("numba", "graphad.backends.numba") \
            if (self.backend or DEFAULT_BACKEND) == "numba" else ()

    def prepare(self, task):
        import graphad
        options = {} if self.backend is None else {"backend": self.backend}
        probe = graphad.compile(task.fun, **options)
        return Runner(lambda: graphad.compile(graphad.grad(task.fun, task.argnums), **options),
                      task.args, _numpy_leaves, param=_single_argnum(task),
                      note=f"backend={probe.backend}")


class NumpyHand:
    name = "numpy-hand"
    description = "hand-written vectorized numpy gradient"

    def prepare(self, task):
        if task.hand_grad is None:
            raise Unavailable("no hand-written gradient for this task")
        return Runner(lambda: task.hand_grad, task.args, _numpy_leaves, param=_single_argnum(task))


# ---- peers: the traced graph run with the peer's operations ------------------------

class _Peer:
    name = ""
    module = ""
    install = ""

    def prepare(self, task):
        from ..trace import trace_function
        from .lowering import NotLowerable, lower
        try:
            __import__(self.module)
        except ImportError:
            raise Unavailable(f"{self.name} is not installed ({self.install}; "
                              "pip install 'graphad[bench]' installs JAX and autograd)") from None
        _single_argnum(task)
        tf = trace_function(task.fun, task.args)
        graph = tf.graph
        if len(graph.outputs) != 1 or graph.outputs[0].type.shape != ():
            raise Unavailable("the function does not return one scalar")
        if tf.captured:
            raise Unavailable("the function closes over traced values")
        nums = (task.argnums,) if isinstance(task.argnums, int) else tuple(task.argnums)
        diff = [i for a in nums for i in range(*tf.arg_ranges[a])]
        const = [i for i in range(len(graph.inputs)) if i not in set(diff)]
        leaves = [np.asarray(leaf) for leaf in tree_flatten(tuple(task.args))[0]]
        self.configure(leaves)
        table, constant = self.table()
        try:
            run = lower(graph, table, constant)
        except NotLowerable as e:
            raise Unavailable(str(e)) from None
        order = sorted([(i, True, j) for j, i in enumerate(diff)]
                       + [(i, False, j) for j, i in enumerate(const)])

        def loss(diff_values, const_values):
            full = [diff_values[j] if d else const_values[j] for _, d, j in order]
            return run(*full)[0]

        native = ([self.to_native(leaves[i]) for i in diff],
                  [self.to_native(leaves[i]) for i in const])
        # Positional arguments (differentiated leaves, other leaves): a run trains the first.
        return Runner(lambda: self.grad(loss), native, self.to_numpy, param=0, sync=self.sync,
                      note=self.note())

    # Hooks: configure(leaves), table(), to_native(array), grad(loss), to_numpy(result),
    # sync(result), note()
    def configure(self, leaves):
        pass

    def note(self):
        return ""

    def sync(self, result):
        return result

    def to_numpy(self, result):
        return _numpy_leaves(result)


class Jax(_Peer):
    name = "jax"
    module = "jax"
    imports = ("jax", "jax.numpy")
    install = "pip install 'jax[cpu]'"
    description = ("jax.jit(jax.grad(f)), CPU; float64 enabled when inputs are float64; no "
                   "persistent compilation cache (JAX's default), so warm = cold")

    def configure(self, leaves):
        import jax
        if any(leaf.dtype == np.float64 for leaf in leaves):
            jax.config.update("jax_enable_x64", True)

    def table(self):
        from .lowering import jax_table
        return jax_table()

    def to_native(self, array):
        import jax.numpy as jnp
        return jnp.asarray(array)

    def grad(self, loss):
        import jax
        return jax.jit(jax.grad(loss))

    def sync(self, result):
        import jax
        return jax.block_until_ready(result)


class Autograd(_Peer):
    name = "autograd"
    module = "autograd"
    imports = ("autograd", "autograd.numpy", "autograd.scipy.special")
    install = "pip install autograd"
    description = "autograd.grad(f) (HIPS autograd)"

    def table(self):
        from .lowering import autograd_table
        return autograd_table()

    def to_native(self, array):
        return array

    def grad(self, loss):
        import autograd
        return autograd.grad(loss)


class Torch(_Peer):
    name = "torch"
    module = "torch"
    imports = ("torch",)
    install = "pip install torch (the CPU build)"

    def __init__(self, threads=None):
        self.threads = threads      # intra-op threads; None: torch's default (OMP_NUM_THREADS)

    @property
    def description(self):
        threads = f"{self.threads} intra-op thread(s)" if self.threads else "default threads"
        return f"PyTorch eager, torch.autograd.grad, {threads}"

    def configure(self, leaves):
        import torch
        # Set on every task: Numba's OpenMP layer resets the shared OpenMP thread count
        # when it starts its own threads (seen after the first parallel compiled kernel).
        threads = self.threads or int(os.environ.get("OMP_NUM_THREADS", "0") or 0)
        if threads:
            torch.set_num_threads(threads)

    def table(self):
        from .lowering import torch_table
        return torch_table()

    def to_native(self, array):
        import torch
        return torch.from_numpy(np.array(array))

    def grad(self, loss):
        import torch

        def grad_fn(diff, const):
            xs = [d.detach().requires_grad_() for d in diff]
            gs = torch.autograd.grad(loss(xs, const), xs, allow_unused=True)
            return [torch.zeros_like(x) if g is None else g for g, x in zip(gs, xs)]
        return grad_fn

    def note(self):
        import torch
        return f"torch threads={torch.get_num_threads()}"

    def to_numpy(self, result):
        return [leaf.detach().numpy() for leaf in result]


BUNDLED = (GraphadCompiled(), GraphadEager(), NumpyHand(), Jax(), Autograd(), Torch())
BY_NAME = {impl.name: impl for impl in BUNDLED}

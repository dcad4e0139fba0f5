"""Optimizers over pytrees of parameters, written so that they trace.

Naming scheme:

- `sgd`, `momentum`, `nesterov`, `rmsprop`, `adam` build an `Optimizer` with
  the published update rule and the defaults of the usual libraries (PyTorch,
  optax). Functional form::

      opt = graphad.optim.adam(step_size=1e-3)
      state = opt.init(params)
      params, state = opt.update(grads, state, params)

  The update is written with graphad.numpy, so it runs on numpy arrays and
  also records into a graph: `training_step` compiles loss, gradient and
  update into one function, the optimizer state being part of its pytree.
- `sgd_loop`, `rmsprop_loop`, `adam_loop` are autograd's
  `misc.optimizers.sgd/rmsprop/adam`: same signature, same defaults, same
  trajectory, so autograd code ports unchanged. `grad_fn(params, i)` receives
  the iteration number and `callback(params, i, g)` runs before each update.
  For any optimizer the same loop is `opt.run(grad_fn, params, num_iters)`.

Hyperparameters are Python floats, which are weakly typed: float32 parameters
stay float32. Parameters are updated leaf by leaf; grads must have the
parameters' tree structure (what `graphad.grad` returns).
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from . import numpy as gnp
from .errors import GraphadError
from .tree import tree_map, tree_structure


class Optimizer:
    """`init(params) -> state` and `update(grads, state, params) -> (params, state)`."""

    def __init__(self, name: str, init: Callable, update: Callable, **hyper):
        self.name = name
        self.init = init
        self._update = update
        self.hyper = hyper

    def update(self, grads, state, params):
        """`(new_params, new_state)` after one step with `grads` (shaped like `params`)."""
        g_tree, p_tree = tree_structure(grads), tree_structure(params)
        if g_tree != p_tree:
            raise GraphadError(f"{self.name}.update: grads have structure {g_tree} but params "
                               f"have {p_tree}; pass the gradient with respect to params")
        return self._update(grads, state, params)

    def run(self, grad_fn, init_params, num_iters, callback=None):
        """autograd's loop: `g = grad_fn(params, i)`, `callback(params, i, g)`, update."""
        params = init_params
        state = self.init(params)
        for i in range(num_iters):
            g = grad_fn(params, i)
            if callback is not None:
                callback(params, i, g)
            params, state = self.update(g, state, params)
        return params

    def __repr__(self):
        hyper = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"graphad.optim.{self.name}({hyper})"


class SgdState(NamedTuple):
    velocity: object          # params-shaped tree, or None without momentum


class MomentumState(NamedTuple):
    velocity: object


class RmspropState(NamedTuple):
    avg_sq_grad: object


class AdamState(NamedTuple):
    count: object             # int32 scalar: the number of updates done so far
    m: object                 # first-moment estimate, params-shaped
    v: object                 # second-moment estimate, params-shaped


def _zeros(params):
    return tree_map(gnp.zeros_like, params)


def _dtype(x):
    return gnp.asarray(x).dtype


def _check_positive(**values):
    for name, value in values.items():
        if not value > 0:
            raise GraphadError(f"{name} must be positive, got {value!r}")


def _check_fraction(**values):
    for name, value in values.items():
        if not 0 <= value < 1:
            raise GraphadError(f"{name} must be in [0, 1), got {value!r}")


# ---- the optimizers ---------------------------------------------------------------

def sgd(step_size=0.1, mass=0.0) -> Optimizer:
    """Gradient descent; with `mass > 0`, autograd's momentum form:
    `velocity = mass * velocity - (1 - mass) * g;  x = x + step_size * velocity`."""
    _check_positive(step_size=step_size)
    _check_fraction(mass=mass)

    def init(params):
        return SgdState(_zeros(params) if mass else None)

    def update(grads, state, params):
        if not mass:
            return tree_map(lambda x, g: x - step_size * g, params, grads), state
        velocity = tree_map(lambda v, g: mass * v - (1 - mass) * g, state.velocity, grads)
        params = tree_map(lambda x, v: x + step_size * v, params, velocity)
        return params, SgdState(velocity)

    return Optimizer("sgd", init, update, step_size=step_size, mass=mass)


def momentum(step_size=0.01, mass=0.9) -> Optimizer:
    """Heavy-ball momentum as in PyTorch's SGD: `v = mass * v + g;  x = x - step_size * v`."""
    return _momentum("momentum", step_size, mass, nesterov=False)


def nesterov(step_size=0.01, mass=0.9) -> Optimizer:
    """Nesterov momentum as in PyTorch's SGD:
    `v = mass * v + g;  x = x - step_size * (g + mass * v)`."""
    return _momentum("nesterov", step_size, mass, nesterov=True)


def _momentum(name, step_size, mass, nesterov):
    _check_positive(step_size=step_size)
    _check_fraction(mass=mass)

    def init(params):
        return MomentumState(_zeros(params))

    def update(grads, state, params):
        velocity = tree_map(lambda v, g: mass * v + g, state.velocity, grads)
        if nesterov:
            params = tree_map(lambda x, g, v: x - step_size * (g + mass * v), params, grads, velocity)
        else:
            params = tree_map(lambda x, v: x - step_size * v, params, velocity)
        return params, MomentumState(velocity)

    return Optimizer(name, init, update, step_size=step_size, mass=mass)


def rmsprop(step_size=0.01, gamma=0.9, eps=1e-8, initial_scale=0.0) -> Optimizer:
    """`a = gamma * a + (1 - gamma) * g**2;  x = x - step_size * g / (sqrt(a) + eps)`.

    `a` starts at `initial_scale`: 0 as in PyTorch and optax, 1 in autograd."""
    _check_positive(step_size=step_size, eps=eps)
    _check_fraction(gamma=gamma)

    def init(params):
        return RmspropState(tree_map(lambda x: gnp.full_like(x, initial_scale), params))

    def update(grads, state, params):
        avg = tree_map(lambda a, g: gamma * a + (1 - gamma) * (g * g), state.avg_sq_grad, grads)
        params = tree_map(lambda x, g, a: x - step_size * g / (gnp.sqrt(a) + eps), params, grads, avg)
        return params, RmspropState(avg)

    return Optimizer("rmsprop", init, update, step_size=step_size, gamma=gamma, eps=eps,
                     initial_scale=initial_scale)


def adam(step_size=0.001, b1=0.9, b2=0.999, eps=1e-8) -> Optimizer:
    """Adam (Kingma & Ba 2015, Algorithm 1) with bias correction:
    `m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g**2;  t = t + 1`
    `x = x - step_size * (m / (1 - b1**t)) / (sqrt(v / (1 - b2**t)) + eps)`."""
    _check_positive(step_size=step_size, eps=eps)
    _check_fraction(b1=b1, b2=b2)

    def init(params):
        return AdamState(np.zeros((), np.int32), _zeros(params), _zeros(params))

    def update(grads, state, params):
        count = state.count + 1
        # Computed in float64 from the integer count, then cast to each leaf's dtype.
        c1, c2 = 1 - b1 ** count, 1 - b2 ** count
        m = tree_map(lambda m, g: b1 * m + (1 - b1) * g, state.m, grads)
        v = tree_map(lambda v, g: b2 * v + (1 - b2) * (g * g), state.v, grads)

        def step(x, m, v):
            dtype = _dtype(x)
            m_hat, v_hat = m / gnp.astype(c1, dtype), v / gnp.astype(c2, dtype)
            return x - step_size * m_hat / (gnp.sqrt(v_hat) + eps)

        return tree_map(step, params, m, v), AdamState(count, m, v)

    return Optimizer("adam", init, update, step_size=step_size, b1=b1, b2=b2, eps=eps)


OPTIMIZERS = (sgd, momentum, nesterov, rmsprop, adam)


# ---- autograd's loop helpers ------------------------------------------------------

def sgd_loop(grad_fn, init_params, callback=None, num_iters=200, step_size=0.1, mass=0.9):
    """autograd's `misc.optimizers.sgd` (momentum 0.9 by default, as there)."""
    return sgd(step_size, mass).run(grad_fn, init_params, num_iters, callback)


def rmsprop_loop(grad_fn, init_params, callback=None, num_iters=100, step_size=0.1, gamma=0.9,
                 eps=1e-8):
    """autograd's `misc.optimizers.rmsprop` (its running average starts at 1, as there)."""
    opt = rmsprop(step_size, gamma, eps, initial_scale=1.0)
    return opt.run(grad_fn, init_params, num_iters, callback)


def adam_loop(grad_fn, init_params, callback=None, num_iters=100, step_size=0.001, b1=0.9,
              b2=0.999, eps=1e-8):
    """autograd's `misc.optimizers.adam`."""
    return adam(step_size, b1, b2, eps).run(grad_fn, init_params, num_iters, callback)


# ---- a whole training step as one function -----------------------------------------

def training_step(loss_fn, optimizer: Optimizer, compile=True, **compile_options):  # noqa: A002
    """`step(params, state, *data) -> (params, state, loss)`: the loss, its gradient
    w.r.t. `params` and the optimizer update, compiled into one graph.

    `compile=False` returns the same step uncompiled (the gradient still runs
    staged; the update runs op by op on numpy). `compile_options` go to
    `graphad.compile` (`backend`, `static_argnums` counted over `step`'s arguments).
    """
    from . import api

    value_and_grad = api.value_and_grad(loss_fn)

    def step(params, state, *data):
        loss, grads = value_and_grad(params, *data)
        params, state = optimizer.update(grads, state, params)
        return params, state, loss

    step.__name__ = f"{getattr(loss_fn, '__name__', 'loss')}_{optimizer.name}_step"
    return api.compile(step, **compile_options) if compile else step

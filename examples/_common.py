"""What every example shares: its command line, its check, rendering its gradient's stages."""
from __future__ import annotations

import argparse
import os
import sys
import time

import graphad


def parse_args(name: str, description: str, iters: int):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--iters", type=int, default=iters,
                        help=f"training iterations (default {iters}; CI uses a small number)")
    parser.add_argument("--out", default=os.path.join("out", name),
                        help="directory for the rendered stages and plots (default out/%(prog)s)")
    parser.add_argument("--no-render", action="store_true", help="skip rendering the stages")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print(f"{name}: graphad {graphad.__version__}, default backend {backend_name()}")
    return args


def backend_name() -> str:
    from graphad.backends import DEFAULT_BACKEND
    return DEFAULT_BACKEND


def check(ok: bool, message: str):
    """Print the check's outcome; exit non-zero when it fails."""
    print(("PASS " if ok else "FAIL ") + message)
    if not ok:
        sys.exit(1)


def render_stages(fun, args, out_dir: str, no_render: bool = False):
    """Render the stages of `fun(*args)` (traced, adjoint, optimized, fused) into `out_dir`.

    Rendering is optional: without Graphviz (or before the renderer exists) say
    so and carry on, the example's result does not depend on it."""
    if no_render:
        return
    try:
        stages = graphad.inspect(fun, *args)
        print(stages.stats())
        path = stages.render(out_dir)
        print(f"stages rendered to {path}")
    except (ImportError, AttributeError, NotImplementedError, graphad.RenderError) as e:
        print(f"note: stages not rendered ({type(e).__name__}: {e})")


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def fit(loss, optimizer, params, data, iters, value_and_grad=None):
    """Train `params` on `data` for `iters` steps; returns (params, losses).

    By default each step is one compiled graph (loss, gradient and update); with
    `value_and_grad` (e.g. graphad.eager's) the gradient runs that way and the
    update in Python, which is what the examples' benchmark compares."""
    import numpy as np
    from graphad import optim

    state = optimizer.init(params)
    step = optim.training_step(loss, optimizer) if value_and_grad is None else None
    losses = []
    for _ in range(iters):
        if step is not None:
            params, state, value = step(params, state, *data)
        else:
            value, grads = value_and_grad(loss)(params, *data)
            params, state = optimizer.update(grads, state, params)
        losses.append(float(value))
    return params, np.array(losses)


def pyplot(what: str = "plot"):
    """matplotlib.pyplot on a file-only backend, or None (saying so) when it is missing:
    plots are optional, the examples' checks do not depend on them."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"note: matplotlib not installed, no {what}")
        return None
    return plt

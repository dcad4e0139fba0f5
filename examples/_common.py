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

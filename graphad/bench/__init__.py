"""Benchmarks: the bundled workloads and the compiled-vs-eager harness.

`compare(f, *args, argnums=0)` times the gradient of `f` in graphad eager,
graphad compiled and, where installed, JAX, HIPS autograd and PyTorch, after
checking that they agree; `graphad bench` does the same for the bundled
workloads (graphad/bench/workloads.py). Peers are imported only when used.
"""
from .compare import QUICK, Result, Row, Settings, compare
from .impls import Runner, Task, Training, Unavailable
from .report import Table

__all__ = ["QUICK", "Result", "Row", "Runner", "Settings", "Table", "Task", "Training",
           "Unavailable", "compare"]

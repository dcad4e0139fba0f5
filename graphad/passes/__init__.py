"""Optimization passes: each a pure function Graph -> Graph.

`optimize(graph, passes)` runs a pipeline of them to a fixpoint (pipeline.py);
`without("stabilize")` is the default pipeline minus the named passes.
"""
from .pipeline import DEFAULT_PASSES, PASSES, optimize, without

__all__ = ["DEFAULT_PASSES", "PASSES", "optimize", "without"]

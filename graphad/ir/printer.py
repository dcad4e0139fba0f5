"""Text form of a graph: one SSA equation a line, with types.

Names are assigned in order of definition (a, b, ..., z, ba, bb, ...), so two
prints of the same graph are identical. Sub-graphs print indented under their
node, naming their variables in the same sequence.
"""
from __future__ import annotations

import string

from .graph import Const, Graph

_LETTERS = string.ascii_lowercase


def _name(i: int) -> str:
    s = ""
    while True:
        s = _LETTERS[i % 26] + s
        i //= 26
        if i == 0:
            return s


class _Namer:
    def __init__(self):
        self.names = {}

    def __call__(self, var) -> str:
        name = self.names.get(var)
        if name is None:
            name = self.names[var] = _name(len(self.names))
        return name


def _format_attr(value) -> str:
    if isinstance(value, type) or hasattr(value, "name") and not isinstance(value, (Graph, Const)):
        return str(getattr(value, "name", value))
    return repr(value)


def format_graph(graph: Graph, indent: str = "", namer: _Namer | None = None) -> str:
    name = namer or _Namer()
    lines = []
    ins = ", ".join(f"{name(v)}:{v.type}" for v in graph.inputs)
    lines.append(f"{indent}{{ lambda {ins} .")
    body = indent + "  "
    for node in graph.nodes:
        outs = " ".join(f"{name(v)}:{v.type}" for v in node.outputs)
        args = " ".join(name(v) for v in node.inputs)
        attrs = [(k, v) for k, v in sorted(node.attrs.items()) if not isinstance(v, Graph)]
        text = f"{body}{outs} = {node.prim.name}"
        if args:
            text += " " + args
        if attrs:
            text += "  " + " ".join(f"{k}={_format_attr(v)}" for k, v in attrs)
        lines.append(text)
        for key, sub in sorted(node.attrs.items()):
            if isinstance(sub, Graph):
                lines.append(f"{body}  {key}:")
                lines.append(format_graph(sub, body + "    ", name))
    outs = ", ".join(name(v) for v in graph.outputs)
    lines.append(f"{body}return {outs} }}")
    return "\n".join(lines)

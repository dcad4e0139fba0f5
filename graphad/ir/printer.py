"""Text form of a graph: one SSA equation a line, with types.

    { lambda a:f64[], b:f64[50] .
      c:f64[50] = mul a b
      d:f64[] = constant 2.0
      e:f64[50] = pow c d
      f:f64[50] = fused e b
        body: { lambda g:f64[50], h:f64[50] .
          i:f64[50] = add g h
          return i }
      return f }

Names are assigned in order of definition (a, b, ..., z, ba, bb, ...), so two
prints of the same graph are identical. A sub-graph (fused region, control-flow
body) prints indented under its node, after the attribute's name, naming its
variables in the same sequence. Constants print their value; arrays too large
to show print a few values and a digest of their bytes.
"""
from __future__ import annotations

import hashlib
import string

import numpy as np

from .graph import Const, Graph

_LETTERS = string.ascii_lowercase
_SHOW_ALL = 6          # arrays with at most this many elements print in full
_SHOW_HEAD = 3         # larger ones print this many leading values, the last, and a digest


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


def format_value(value) -> str:
    """A constant's value as a reader wants it: `2.0`, `[1, 2, 3]`, `full(0.0)`.

    Scalars use numpy's shortest round-trip form for their dtype (so f32 0.1
    prints `0.1`). Large arrays print a few values and a digest of their bytes,
    so different constants print differently and equal ones identically.
    """
    a = np.asarray(value)
    if a.ndim == 0:
        return _scalar(a)
    if a.size <= _SHOW_ALL:
        return _nested(a)
    flat = a.ravel()
    if flat.tobytes() == flat[:1].tobytes() * flat.size:
        return f"full({_scalar(flat[0])})"
    digest = hashlib.blake2b(a.tobytes(), digest_size=4).hexdigest()
    head = ", ".join(_scalar(x) for x in flat[:_SHOW_HEAD])
    return f"[{head}, ..., {_scalar(flat[-1])}] #{digest}"


def _scalar(x) -> str:
    x = np.asarray(x)[()]
    return str(x.item()) if x.dtype.kind == "b" else str(x)


def _nested(a) -> str:
    if a.ndim == 0:
        return _scalar(a)
    return "[" + ", ".join(_nested(x) for x in a) + "]"


def format_attr(value) -> str:
    """An attribute value as printed after `key=`."""
    if isinstance(value, Const):
        return format_value(value.value)
    if isinstance(value, type) or hasattr(value, "name") and not isinstance(value, Graph):
        return str(getattr(value, "name", value))
    return repr(value)


def _subgraph_attrs(node):
    """(label, graph) for every sub-graph attribute, in attribute-name order."""
    for key, value in sorted(node.attrs.items()):
        if isinstance(value, Graph):
            yield key, value
        elif isinstance(value, tuple) and any(isinstance(v, Graph) for v in value):
            yield from ((f"{key}[{i}]", v) for i, v in enumerate(value) if isinstance(v, Graph))


def _is_subgraph_attr(value) -> bool:
    return isinstance(value, Graph) or isinstance(value, tuple) and any(
        isinstance(v, Graph) for v in value)


def format_node(node, name) -> str:
    """`outs = prim args  attrs` for one node; `name` maps vars to names."""
    outs = " ".join(f"{name(v)}:{v.type}" for v in node.outputs)
    text = f"{outs} = {node.prim.name}"
    args = " ".join(name(v) for v in node.inputs)
    if args:
        text += " " + args
    attrs = [(k, v) for k, v in sorted(node.attrs.items()) if not _is_subgraph_attr(v)]
    if node.prim.name == "constant" and len(attrs) == 1 and isinstance(attrs[0][1], Const):
        return f"{text} {format_value(attrs[0][1].value)}"
    if attrs:
        text += "  " + " ".join(f"{k}={format_attr(v)}" for k, v in attrs)
    return text


def graph_lines(graph: Graph, indent: str = "", namer: _Namer | None = None, header: str = "",
                depth: int = 0):
    """The printed lines as (node or None, depth, text): what renderers annotate.

    `depth` is 0 for the graph's own lines and grows by one per sub-graph level;
    header and return lines carry node None.
    """
    name = namer or _Namer()
    ins = ", ".join(f"{name(v)}:{v.type}" for v in graph.inputs)
    lines = [(None, depth, f"{indent}{header}{{ lambda {ins} .")]
    body = indent + "  "
    for node in graph.nodes:
        lines.append((node, depth, body + format_node(node, name)))
        for label, sub in _subgraph_attrs(node):
            lines += graph_lines(sub, body + "  ", name, f"{label}: ", depth + 1)
    outs = ", ".join(name(v) for v in graph.outputs)
    lines.append((None, depth, f"{body}return {outs} }}"))
    return lines


def format_graph(graph: Graph, indent: str = "", namer: _Namer | None = None) -> str:
    return "\n".join(text for _, _, text in graph_lines(graph, indent, namer))


def var_names(graph: Graph) -> dict:
    """Var -> the name `format_graph` prints for it, sub-graphs included."""
    namer = _Namer()
    graph_lines(graph, namer=namer)
    return namer.names

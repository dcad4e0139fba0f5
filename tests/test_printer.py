"""The text IR: exact layout, constants, sub-graphs, and names/types that round-trip."""
from __future__ import annotations

import re

import numpy as np
import pytest

import graphad
from graphad.ir import Const, Graph, GraphBuilder, Node, TensorType, Var
from graphad.ir.printer import format_value, graph_lines, var_names
from graphad.prims.core import Primitive
from graphad.prims.creation import constant_p
from graphad.prims.elementwise import add_p, mul_p, sin_p
from graphad.prims.reductions import reduce_sum_p

F64 = np.float64

# A stand-in for the fusion pass's node: a primitive of kind "fused" carrying its region.
fused_p = Primitive("fused", infer=lambda *types, body: body.out_types, impl=None, kind="fused",
                    multiple_results=True)


def fuse(graph: Graph, start: int, stop: int, meta=None) -> Graph:
    """`graph` with nodes[start:stop] replaced by one fused node holding them."""
    region = graph.nodes[start:stop]
    defined = {v for n in region for v in n.outputs}
    later = set(graph.outputs) | {v for n in graph.nodes[stop:] for v in n.inputs}
    ext_in = []
    for n in region:
        ext_in += [v for v in n.inputs if v not in defined and v not in ext_in]
    ext_out = [v for n in region for v in n.outputs if v in later]
    inner = {v: Var(v.type) for v in ext_in}
    nodes = []
    for n in region:
        outs = [Var(v.type) for v in n.outputs]
        nodes.append(Node(n.prim, [inner[v] for v in n.inputs], outs, n.attrs, n.meta))
        inner.update(zip(n.outputs, outs))
    body = Graph([inner[v] for v in ext_in], nodes, [inner[v] for v in ext_out])
    node = Node(fused_p, ext_in, ext_out, {"body": body}, meta)
    return Graph(graph.inputs, graph.nodes[:start] + (node,) + graph.nodes[stop:], graph.outputs)


def small_graph() -> Graph:
    """sum(sin(x * 2.0) + y) with x: f64[3], y: f64[3]."""
    b = GraphBuilder()
    x = b.add_input(TensorType((3,), F64))
    y = b.add_input(TensorType((3,), F64))
    (two,) = b.add(constant_p, [], {"value": Const(np.float64(2.0))})
    (t,) = b.add(mul_p, [x, two])
    (s,) = b.add(sin_p, [t])
    (u,) = b.add(add_p, [s, y])
    (r,) = b.add(reduce_sum_p, [u], {"axes": (0,)})
    return b.build([r])


def test_exact_layout():
    assert str(small_graph()) == (
        "{ lambda a:f64[3], b:f64[3] .\n"
        "  c:f64[] = constant 2.0\n"
        "  d:f64[3] = mul a c\n"
        "  e:f64[3] = sin d\n"
        "  f:f64[3] = add e b\n"
        "  g:f64[] = reduce_sum f  axes=(0,)\n"
        "  return g }")


def test_subgraph_indented_under_its_node():
    g = fuse(small_graph(), 1, 4)
    assert str(g) == (
        "{ lambda a:f64[3], b:f64[3] .\n"
        "  c:f64[] = constant 2.0\n"
        "  d:f64[3] = fused a c b\n"
        "    body: { lambda e:f64[3], f:f64[], g:f64[3] .\n"
        "      h:f64[3] = mul e f\n"
        "      i:f64[3] = sin h\n"
        "      j:f64[3] = add i g\n"
        "      return j }\n"
        "  k:f64[] = reduce_sum d  axes=(0,)\n"
        "  return k }")
    depths = [(node.prim.name if node else None, depth) for node, depth, _ in graph_lines(g)]
    assert depths == [(None, 0), ("constant", 0), ("fused", 0), (None, 1), ("mul", 1),
                      ("sin", 1), ("add", 1), (None, 1), ("reduce_sum", 0), (None, 0)]


def test_nested_and_tuple_subgraphs():
    inner = fuse(small_graph(), 1, 3)                      # mul, sin fused
    outer = fuse(inner, 1, 3)                              # (fused, add) fused again
    text = str(outer)
    assert "\n    body: { lambda" in text and "\n        body: { lambda" in text
    assert "\n          " in text                          # equations two levels down
    node = outer.nodes[1]
    pair = Node(node.prim, node.inputs, [Var(v.type) for v in node.outputs],
                {"branches": (node.attrs["body"], node.attrs["body"]), "k": 1})
    g = Graph(outer.inputs, outer.nodes[:1] + (pair,), pair.outputs)
    lines = str(g).splitlines()
    assert lines[2].endswith("= fused a c b  k=1")
    level1 = [ln.strip().split(":")[0] for ln in lines
              if ": {" in ln and len(ln) - len(ln.lstrip()) == 4]
    assert level1 == ["branches[0]", "branches[1]"]


def test_constants_print_readably():
    assert format_value(np.float64(2.0)) == "2.0"
    assert format_value(np.float64(0.1)) == "0.1"
    assert format_value(np.float32(0.1)) == "0.1"            # shortest form for its dtype
    assert format_value(np.float64(1e-20)) == "1e-20"
    assert format_value(np.float64(-np.inf)) == "-inf"
    assert format_value(np.int64(3)) == "3"
    assert format_value(np.bool_(True)) == "True"
    assert format_value(np.array([[1, 2], [3, 4]])) == "[[1, 2], [3, 4]]"
    assert format_value(np.ones((3, 4))) == "full(1.0)"
    big = format_value(np.linspace(0, 1, 11))
    assert re.fullmatch(r"\[0\.0, 0\.1, 0\.2, \.\.\., 1\.0\] #[0-9a-f]{8}", big)
    other = np.linspace(0, 1, 11)
    other[5] = 7.0
    assert format_value(other) != big                        # a digest tells them apart
    assert format_value(np.array([0.0, -0.0, 0.0, 0.0, 0.0, 0.0, 0.0])) != "full(0.0)"


def test_identical_graphs_print_identically():
    def f(x, y):
        return graphad.numpy.sum(graphad.numpy.sin(x * 2.0) + y)

    x, y = np.ones(3), np.zeros(3)
    a = graphad.inspect(graphad.grad(f), x, y)
    b = graphad.inspect(graphad.grad(f), x, y)
    assert a.adjoint is not b.adjoint
    assert str(a.adjoint) == str(b.adjoint)
    def g(x, y):
        return graphad.numpy.sum(graphad.numpy.sin(x * 3.0) + y)

    c = graphad.inspect(graphad.grad(g), x, y)
    assert str(c.adjoint) != str(a.adjoint)


_DECL = re.compile(r"([a-z]+):((?:f|i|u)\d+|bool)\[([0-9,]*)\]")


def _parse_type(dtype, dims):
    names = {"f64": "float64", "f32": "float32", "i64": "int64", "i32": "int32", "bool": "bool"}
    return TensorType(tuple(int(d) for d in dims.split(",") if d), names[dtype])


@pytest.mark.parametrize("fuse_it", [False, True])
def test_names_and_types_round_trip(fuse_it):
    def f(params, x):
        w, b = params
        return graphad.numpy.mean(graphad.numpy.tanh(x @ w + b) ** 2)

    params = (np.ones((3, 2)), np.zeros(2))
    graph = graphad.inspect(graphad.grad(f), params, np.ones((4, 3))).adjoint
    if fuse_it:
        graph = fuse(graph, 1, 4)
    text = str(graph)
    declared = {name: _parse_type(dt, dims) for name, dt, dims in _DECL.findall(text)}
    names = var_names(graph)
    assert len(set(names.values())) == len(names)            # every var has its own name
    by_name = {name: var for var, name in names.items()}
    assert set(declared) == set(by_name)
    for name, t in declared.items():
        assert by_name[name].type == t, name
    # every use names a var declared earlier in the text (SSA order, sub-graphs included)
    seen = set()
    for line in text.splitlines():
        body = line.split("{ lambda ", 1)[-1].strip()
        if body.startswith("return"):
            uses = body[len("return"):].strip(" }").split(", ")
        elif " = " in body:
            lhs, rhs = body.split(" = ", 1)
            op, *uses = rhs.split("  ")[0].split()
            uses = [] if op == "constant" else uses
            assert all(u in seen for u in uses), line
            seen.update(n.split(":")[0] for n in lhs.split())
            continue
        else:
            seen.update(n for n, _, _ in _DECL.findall(body))
            continue
        assert all(u in seen for u in uses), line
    assert text.splitlines()[-1].strip() == "return " + ", ".join(
        names[v] for v in graph.outputs) + " }"

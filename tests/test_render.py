"""Graphviz pictures and the stages report: structure of the DOT, rendered files,
index.html, folding of large graphs, and the path without Graphviz's `dot`."""
from __future__ import annotations

import html
import re

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad import render
from graphad.bench.workloads import logistic_map, relu_mlp, sine_fit
from graphad.ir import Const, GraphBuilder
from graphad.ir.printer import format_value
from graphad.prims.creation import constant_p
from graphad.prims.elementwise import add_p, mul_p
from graphad.viz.dot import STYLES

from test_printer import fuse, small_graph

needs_dot = pytest.mark.skipif(render.find_dot() is None, reason="Graphviz `dot` not installed")

_NODE = re.compile(r"^\t+(\w+) \[label=<(.*)> (.*)\]$")
_EDGE = re.compile(r"^\t+(\w+) -> (\w+)(?: \[(.*)\])?$")
_ATTR = re.compile(r'(\w+)=("[^"]*"|\S+)')


def parse_dot(source: str):
    """nodes {id: {label, cluster, attrs...}}, edges [(a, b, label)], clusters {id: label}."""
    nodes, edges, clusters, stack = {}, [], {}, []
    for line in source.splitlines():
        if m := re.match(r"^\t+subgraph (cluster_\w+) \{$", line):
            stack.append(m.group(1))
        elif re.match(r"^\t+subgraph \{$|^\t+\{$", line):
            stack.append(None)
        elif line.strip() == "}" and stack:
            stack.pop()
        elif (m := re.match(r'^\t+.*\blabel="([^"]*)"', line)) and stack and stack[-1] and \
                stack[-1] not in clusters:
            clusters[stack[-1]] = m.group(1)
        elif m := _NODE.match(line):
            attrs = {k: v.strip('"') for k, v in _ATTR.findall(m.group(3))}
            text = html.unescape(re.sub(r"<[^>]+>", " ", m.group(2)))
            cluster = next((c for c in reversed(stack) if c), None)
            nodes[m.group(1)] = dict(attrs, label=" ".join(text.split()), cluster=cluster)
        elif m := _EDGE.match(line):
            attrs = dict((k, v.strip('"')) for k, v in _ATTR.findall(m.group(3) or ""))
            if attrs.get("style") != "invis":
                edges.append((m.group(1), m.group(2), attrs.get("label")))
    return nodes, edges, clusters


def by_label(nodes, text):
    (found,) = [i for i, n in nodes.items() if text in n["label"]]
    return found


def test_small_graph_structure():
    dot = render.graph_to_dot(small_graph(), input_names=["x", "y"], wrt=(0,),
                              output_names=["loss"])
    nodes, edges, clusters = parse_dot(dot.source)
    assert not clusters
    x, y = by_label(nodes, "a x"), by_label(nodes, "b y")
    assert nodes[x]["fillcolor"] == STYLES["input_wrt"]["fillcolor"]
    assert "differentiated" in nodes[x]["label"] and "differentiated" not in nodes[y]["label"]
    assert nodes[y]["fillcolor"] == STYLES["input"]["fillcolor"]
    mul, sin = by_label(nodes, "d = mul a c"), by_label(nodes, "e = sin d")
    add, total = by_label(nodes, "f = add e b"), by_label(nodes, "g = reduce_sum f")
    const, out = by_label(nodes, "c = 2.0"), by_label(nodes, "loss")
    assert nodes[mul]["label"] == "d = mul a c f64[3]"
    assert "axes=(0,)" in nodes[total]["label"]
    assert nodes[const]["shape"] == "plain"
    assert nodes[out]["shape"] == STYLES["output"]["shape"]
    for op in (mul, sin, add, total):
        assert nodes[op]["fillcolor"] == STYLES["forward"]["fillcolor"]
    assert sorted(edges) == sorted([(x, mul, None), (const, mul, None), (mul, sin, None),
                                    (sin, add, None), (y, add, None),
                                    (add, total, "f64[3]"),        # shape changes: labelled
                                    (total, out, None)])
    assert len(nodes) == 8


def test_scalar_constant_drawn_at_each_use():
    b = GraphBuilder()
    x = b.add_input(graphad.TensorType((2,), np.float64))
    (c,) = b.add(constant_p, [], {"value": Const(np.float64(3.0))})
    (m,) = b.add(mul_p, [x, c])
    (s,) = b.add(add_p, [m, c])
    nodes, edges, _ = parse_dot(render.graph_to_dot(b.build([s])).source)
    copies = [i for i, n in nodes.items() if n["label"] == "b = 3.0"]
    assert len(copies) == 2
    assert {dst for src, dst, _ in edges if src in copies} == {by_label(nodes, "mul"),
                                                               by_label(nodes, "add")}


def test_adjoint_nodes_are_distinct_and_legend_says_so():
    x = np.linspace(0.1, 1.0, 3)
    stages = graphad.inspect(graphad.grad(lambda x: gnp.sum(gnp.sin(x) * x)), x)
    dot = render.graph_to_dot(stages.adjoint)
    nodes, _, _ = parse_dot(dot.source)
    fills = [n["fillcolor"] for n in nodes.values() if "fillcolor" in n]
    graph_nodes = [n for n in stages.adjoint.nodes if n.prim.name != "constant"]
    n_adjoint = sum(n.meta.get("phase") == "adjoint" for n in graph_nodes)
    assert n_adjoint > 0
    assert fills.count(STYLES["adjoint"]["fillcolor"]) == n_adjoint
    assert fills.count(STYLES["forward"]["fillcolor"]) == len(graph_nodes) - n_adjoint
    assert STYLES["adjoint"]["shape"] == "box" and STYLES["adjoint"]["style"] != \
        STYLES["forward"]["style"]                     # not colour alone
    heading = dot.source.split("label=<", 1)[1]
    assert "adjoint (backward) op" in heading and "forward op" in heading
    # the stage knows the argument's name and that it is differentiated
    x_node = by_label(nodes, "a x")
    assert nodes[x_node]["fillcolor"] == STYLES["input_wrt"]["fillcolor"]
    assert "grad x" in nodes[by_label(nodes, "grad x")]["label"]


def test_fused_region_is_a_cluster_of_its_inner_operations():
    g = fuse(small_graph(), 1, 4, meta={"phase": "forward"})
    nodes, edges, clusters = parse_dot(render.graph_to_dot(g).source)
    (cluster,) = clusters
    assert clusters[cluster].startswith("d = fused a c b") and "(3 ops)" in clusters[cluster]
    inner = {i for i, n in nodes.items() if n["cluster"] == cluster}
    mul, sin, add = (by_label(nodes, t) for t in ("h = mul e f", "i = sin h", "j = add i g"))
    const = by_label(nodes, "f = 2.0")                 # the constant as the region names it
    assert inner == {mul, sin, add, const}
    total = by_label(nodes, "k = reduce_sum d")
    assert nodes[total]["cluster"] is None
    # edges cross the region boundary to the inner producers and consumers
    assert ("in0", mul, None) in edges and ("in1", add, None) in edges
    assert (add, total, "f64[3]") in edges
    assert "fused region" in render.graph_to_dot(g).source.split("label=<", 1)[1]


def test_the_fusion_pass_output_draws_as_clusters():
    fusion = pytest.importorskip("graphad.passes.fusion")
    stages = graphad.inspect(graphad.grad(sine_fit), (1.0, 0.0), np.ones(5), np.ones(5))
    fused = fusion.fuse(stages.optimized)
    regions = [n for n in fused.nodes if n.prim.kind == "fused"]
    assert regions
    nodes, _, clusters = parse_dot(render.graph_to_dot(fused).source)
    assert len(clusters) == len(regions)
    inner = sum(1 for n in regions for m in n.attrs["body"].nodes if m.prim.name != "constant")
    assert sum(1 for n in nodes.values() if n["cluster"] and n["label"].find(" = ") > 0
               and n.get("shape") != "plain") == inner
    # inner nodes keep their phase: the region holds forward and adjoint work
    fills = {n["fillcolor"] for n in nodes.values() if n["cluster"] and "fillcolor" in n}
    assert fills == {STYLES["forward"]["fillcolor"], STYLES["adjoint"]["fillcolor"]}


def test_large_graph_folds_repetition_and_says_so():
    x = np.linspace(-1, 1, 10)
    adjoint = graphad.inspect(graphad.grad(logistic_map), x).adjoint
    assert adjoint.count_nodes() > 150
    source = render.graph_to_dot(adjoint, max_nodes=150).source
    nodes, edges, _ = parse_dot(source)
    folds = [n for i, n in nodes.items() if i.startswith("fold")]
    assert folds and all("more repetitions of" in n["label"] for n in folds)
    assert any("mul → sub → mul" in n["label"] for n in folds)      # the forward loop body
    assert len(nodes) <= 150
    hidden = sum(int(re.search(r"\((\d+) nodes not drawn\)", n["label"]).group(1)) for n in folds)
    drawn_ops = sum(1 for i, n in nodes.items() if i.startswith("n"))
    assert drawn_ops + hidden == sum(1 for n in adjoint.nodes
                                     if n.prim.name != "constant" or n.out.type.size > 4)
    assert "repeated patterns are folded" in source
    assert any(src.startswith("fold") or dst.startswith("fold") for src, dst, _ in edges)
    full, _, _ = parse_dot(render.graph_to_dot(adjoint, max_nodes=None).source)
    assert not any(i.startswith("fold") for i in full) and len(full) > 150


def test_unrepetitive_graph_beyond_the_limit_is_grouped_in_blocks():
    stages = graphad.inspect(graphad.grad(sine_fit), (1.0, 0.0), np.ones(5), np.ones(5))
    source = render.graph_to_dot(stages.adjoint, max_nodes=12).source
    nodes, _, _ = parse_dot(source)
    blocks = [n for i, n in nodes.items() if i.startswith("fold")]
    assert blocks and "grouped into" in source
    assert len(nodes) <= 12 + 4


@needs_dot
def test_svg_and_png_contain_every_node(tmp_path):
    stages = graphad.inspect(graphad.grad(sine_fit), (1.0, 0.0), np.ones(5), np.ones(5))
    graph = stages.adjoint
    svg_path = graph.render(tmp_path / "g.svg")
    svg = html.unescape(svg_path.read_text())
    texts = " ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))
    nodes, _, _ = parse_dot(render.graph_to_dot(graph).source)
    for node in nodes.values():
        for word in node["label"].split():
            assert word in texts, word
    for node in graph.nodes:                           # every operation, by name and type
        if node.prim.name == "constant":               # scalars: shown by value at each use
            assert format_value(node.attrs["value"].value) in texts
        else:
            assert node.prim.name in texts and str(node.outputs[0].type) in texts
    png_path = render.render_graph(graph, tmp_path / "g", format="png")
    assert png_path.name == "g.png"
    data = png_path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    svg_w, svg_h = (float(v) for v in re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"',
                                                svg).groups())
    scale = int(render.PNG_DPI) / 72                   # same layout, drawn at PNG_DPI
    assert abs(width - svg_w * scale) < 0.05 * width and abs(height - svg_h * scale) < 0.05 * height
    assert graph._repr_svg_().lstrip().startswith("<?xml")


@needs_dot
def test_render_stages_writes_pictures_and_index(tmp_path):
    stages = graphad.inspect(graphad.grad(relu_mlp), *_mlp_args())
    index = stages.render(tmp_path / "out", format="svg")
    page = index.read_text()
    for name, graph in stages.graphs().items():
        picture = tmp_path / "out" / f"{name}.svg"
        assert picture.exists() and f'src="{name}.svg"' in page
        title = html.unescape(picture.read_text())
        # The fused stage counts its regions and, in brackets, the nodes inside them.
        assert (f"{name}: {graph.count_nodes()} nodes" in title
                or f"({graph.count_nodes()} nodes counting the regions' contents" in title)
        assert html.escape(str(graph).splitlines()[1].strip()) in page      # the text IR
        assert f"<td>{name}</td><td>{graph.count_nodes()}</td>" in page       # the count table
    for r in stages.records:
        assert f"<td>{r['pass']}</td><td>{r['round']}</td>" in page
    # the pictures carry the user's names and which inputs are differentiated
    nodes, _, _ = parse_dot(render.graph_to_dot(stages.adjoint).source)
    w1 = by_label(nodes, "a params['W1']")
    assert nodes[w1]["fillcolor"] == STYLES["input_wrt"]["fillcolor"]
    assert nodes[by_label(nodes, "g x")]["fillcolor"] == STYLES["input"]["fillcolor"]
    assert by_label(nodes, "grad params['b3']")


def _mlp_args():
    r = np.random.default_rng(0)
    params = {"W1": r.standard_normal((1, 4)), "b1": r.standard_normal(4),
              "W2": r.standard_normal((4, 4)), "b2": r.standard_normal(4),
              "W3": r.standard_normal((4, 1)), "b3": r.standard_normal(1)}
    x = np.linspace(-1, 1, 8).reshape(-1, 1)
    return params, x, np.sin(x)


def test_report_lists_pass_records_with_extra_fields():
    stages = graphad.inspect(graphad.grad(sine_fit), (1.0, 0.0), np.ones(5), np.ones(5))
    stages.records = [{"pass": "simplify", "round": 0, "before": 30, "after": 24,
                       "seconds": 0.0012, "hits": {"mul-one": 4, "neg-neg": 2, "unused": 0}}]
    from graphad.viz.report import report_html
    page = report_html(stages, images={})
    assert "<th>hits</th>" in page and "mul-one: 4, neg-neg: 2" in page and "unused" not in page
    assert "<td>simplify</td><td>0</td><td>30</td><td>24</td><td>-6</td><td>1.20</td>" in page


@needs_dot
def test_jupyter_html_inlines_every_stage():
    stages = graphad.inspect(graphad.grad(sine_fit), (1.0, 0.0), np.ones(5), np.ones(5))
    page = stages._repr_html_()
    assert page.count('<img src="data:image/svg+xml;base64,') == len(stages.NAMES)


def test_without_dot_writes_source_and_explains(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert render.find_dot() is None
    with pytest.raises(graphad.RenderError, match="apt-get install graphviz") as info:
        render.render_graph(small_graph(), tmp_path / "g.svg")
    assert "g.dot" in str(info.value)
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
    assert not (tmp_path / "g.svg").exists()
    stages = graphad.inspect(graphad.grad(sine_fit), (1.0, 0.0), np.ones(5), np.ones(5))
    with pytest.raises(graphad.RenderError, match="index.html"):
        stages.render(tmp_path / "out", format="png")
    for name in stages.NAMES:
        assert (tmp_path / "out" / f"{name}.dot").read_text().startswith("digraph")
        assert f'href="{name}.dot"' in (tmp_path / "out" / "index.html").read_text()
    # the DOT source itself needs no Graphviz
    assert render.render_graph(small_graph(), tmp_path / "h.dot").read_text().startswith("digraph")
    assert small_graph()._repr_svg_() is None          # Jupyter falls back to text


def test_unknown_format_is_a_user_error(tmp_path):
    with pytest.raises(graphad.RenderError, match="choose one of svg, png, pdf, dot"):
        render.render_graph(small_graph(), tmp_path / "g.jpeg")

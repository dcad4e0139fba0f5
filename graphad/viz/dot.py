"""Graph -> Graphviz: what each node, edge and cluster looks like.

Labels reuse the text IR's names (`g = sin f`), so a picture and a print of
the same graph can be read side by side. Forward and adjoint nodes differ in
colour and shape, inputs show whether they are differentiated, scalar
constants are drawn next to each use (one shared node would tie the whole
picture together with long edges), and a fused region is a cluster holding its
inner operations, as is each branch / loop body of a control-flow node (with its
own inputs, named by role: carry, const, ct, arg). Above `max_nodes` drawn nodes,
repetition is folded away (see collapse.py) and the picture says so in its heading.
"""
from __future__ import annotations

import html
from collections import Counter

from ..ir.graph import Graph
from ..ir.printer import format_attr, format_value, var_names
from .collapse import fold_blocks, fold_repeats

MAX_NODES = 150         # drawn nodes above which repetition is folded
SMALL_CONSTANT = 4      # constants with at most this many elements are drawn at each use
FONT = "Helvetica"

# (fill, border) per kind of node; the legend is built from the same table.
STYLES = {
    "forward": dict(shape="box", style="rounded,filled", fillcolor="#dbe8f7", color="#3b6ea5"),
    "adjoint": dict(shape="box", style="filled,bold", fillcolor="#fbd3ad", color="#c0621b"),
    "input_wrt": dict(shape="ellipse", style="filled,bold", fillcolor="#bfe5b4", color="#2e7d32"),
    "input": dict(shape="ellipse", style="filled", fillcolor="#eeeeee", color="#777777"),
    "constant": dict(shape="plain", fontcolor="#555555", fontsize="9"),
    "array_constant": dict(shape="note", style="filled", fillcolor="#fff4c2", color="#a08800"),
    "output": dict(shape="invhouse", style="filled,bold", fillcolor="#e4d4f4", color="#6a3d9a"),
}
for _phase in ("forward", "adjoint"):    # folded boxes keep their phase's colours
    STYLES["folded_" + _phase] = dict(STYLES[_phase], shape="box3d", style="filled,dashed")
LEGEND = (("input_wrt", "input, differentiated"), ("input", "input"), ("forward", "forward op"),
          ("adjoint", "adjoint (backward) op"), ("array_constant", "array constant"),
          ("output", "output"))
ALWAYS = ("forward", "adjoint", "output")     # legend entries shown even when absent
CLUSTER = dict(style="rounded,filled,dashed", fillcolor="#f7f7f7", color="#888888")


class Item:
    """One drawn node."""

    __slots__ = ("id", "label", "style", "cluster", "unit", "is_op")

    def __init__(self, id, label, style, cluster=(), unit=None, is_op=False):
        self.id, self.label, self.style = id, label, style
        self.cluster, self.unit, self.is_op = cluster, unit, is_op


def fused_body(node):
    """The region a fused node stands for, if it can be drawn as a cluster."""
    if node.prim.kind != "fused":
        return None
    subs = list(node.subgraphs())
    if len(subs) != 1:
        return None
    sub = subs[0]
    if len(sub.inputs) != len(node.inputs) or len(sub.outputs) != len(node.outputs):
        return None
    return sub


def _small_constant(node):
    if node.prim.name != "constant" or node.inputs:
        return None
    value = node.attrs.get("value")
    array = getattr(value, "value", None)
    if array is None or array.size > SMALL_CONSTANT:
        return None
    return format_value(array)


def _hidden_attr(value) -> bool:
    """Sub-graphs (drawn as clusters) and empty tuples such as `batch=((), ())`."""
    if isinstance(value, Graph):
        return True
    if isinstance(value, tuple):
        return all(isinstance(v, tuple) and not v for v in value) or any(
            isinstance(v, Graph) for v in value)
    return False


def _esc(text) -> str:
    return html.escape(str(text), quote=False)


def _small(text, color="#555555") -> str:
    return f'<font point-size="9" color="{color}">{_esc(text)}</font>'


def _types(vars_) -> str:
    return ", ".join(str(v.type) for v in vars_)


class Drawing:
    """Items, edges and clusters for one graph, before any folding."""

    def __init__(self, graph: Graph, input_names=None, wrt=None, output_names=None):
        self.names = var_names(graph)
        self.node_count = graph.count_nodes()
        self.items: dict[str, Item] = {}
        self.edges = []                  # (src id, dst id, label or None)
        self.clusters = {}               # id -> (label, parent id or None)
        self.bodies = set()              # the clusters that are branch / loop bodies
        self.source = {}                 # var -> id of the item producing it
        self.small = {}                  # var -> text of a constant drawn at each use
        self.alias = {}                  # region input/output var -> the var it stands for
        # one unit per drawn operation, in drawing order: what folding works on
        self.unit_keys, self.unit_ops, self.unit_groups = [], [], []
        self._count = 0
        for i, v in enumerate(graph.inputs):
            self._input(i, v, input_names, wrt)
        self._nodes(graph.nodes, ())
        for i, v in enumerate(graph.outputs):
            name = output_names[i] if output_names and i < len(output_names) else f"output {i}"
            label = f"<b>{_esc(name)}</b><br/>{_small(v.type)}"
            item = self._add(f"out{i}", label, "output")
            self._edge(v, item, None)

    # -- construction ------------------------------------------------------------
    def _add(self, id, label, style, cluster=(), unit=None, is_op=False) -> Item:
        item = self.items[id] = Item(id, label, style, cluster, unit, is_op)
        return item

    def _new_id(self, prefix) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def _input(self, i, v, input_names, wrt):
        name = self.names[v]
        user = input_names[i] if input_names and i < len(input_names) else None
        style = "input" if wrt is None or i not in wrt else "input_wrt"
        head = f"<b>{_esc(name)}</b>" + (f" {_esc(user)}" if user and user != name else "")
        note = "<br/>" + _small("differentiated", "#2e7d32") if style == "input_wrt" else ""
        self._add(f"in{i}", f"{head}<br/>{_small(v.type)}{note}", style)
        self.source[v] = f"in{i}"

    def _resolve(self, v):
        while v in self.alias:
            v = self.alias[v]
        return v

    def _edge(self, v, dst: Item, label):
        name, v = self.names.get(v, "?"), self._resolve(v)
        if v in self.small:      # named as its consumer's equation names it
            src = self._add(self._new_id("c"), _esc(f"{name} = {self.small[v]}"), "constant",
                            dst.cluster, dst.unit)
            label = None
        elif v in self.source:
            src = self.items[self.source[v]]
        else:                    # defined nowhere we draw (a malformed or open graph)
            src = self._add(self._new_id("u"), _esc(f"{name}: undefined"), "constant")
        self.edges.append((src.id, dst.id, label))

    def _new_unit(self, node, phase, cluster) -> int:
        """Units repeat when operation, types, phase and region agree."""
        self.unit_keys.append((node.prim.name, _types(node.outputs), phase, cluster))
        self.unit_ops.append(node.prim.name)
        self.unit_groups.append((phase, cluster))
        return len(self.unit_keys) - 1

    def _nodes(self, nodes, cluster):
        for node in nodes:
            phase = node.meta.get("phase", "forward")      # no phase: forward, as in the IR
            const = _small_constant(node)
            if const is not None:
                self.small[node.out] = const
                continue
            body = fused_body(node)
            if body is None:
                item = self._op(node, cluster, self._new_unit(node, phase, cluster), phase)
                if node.prim.kind == "control":
                    self._control_bodies(node, item, cluster)
                continue
            cid = self._new_id("cluster_")
            outs = ", ".join(self.names.get(v, "?") for v in node.outputs)
            args = " ".join(self.names.get(v, "?") for v in node.inputs)
            label = f"{outs} = {node.prim.name} {args}"
            label = (label if len(label) <= 50 else label[:47] + "...") + \
                f"  ({body.count_nodes()} ops)"
            self.clusters[cid] = (label, cluster[-1] if cluster else None)
            self.alias.update(zip(body.inputs, node.inputs))
            self._nodes(body.nodes, cluster + (cid,))
            self.alias.update(zip(node.outputs, body.outputs))

    def _op(self, node, cluster, unit, phase):
        name = self.names.get
        outs = ", ".join(name(v, "?") for v in node.outputs)
        args = " ".join(name(v, "?") for v in node.inputs)
        lines = [f"{_esc(outs)} = <b>{_esc(node.prim.name)}</b> {_esc(args)}".rstrip(),
                 _small(_types(node.outputs))]
        attrs = [(k, v) for k, v in sorted(node.attrs.items()) if not _hidden_attr(v)]
        if node.prim.name == "constant":
            text = " ".join(format_attr(v) for _, v in attrs)
        else:
            text = " ".join(f"{k}={format_attr(v)}" for k, v in attrs)
        if text:
            lines.append(_small(text if len(text) <= 40 else text[:37] + "..."))
        subs = list(node.subgraphs())
        if subs and node.prim.kind != "control":     # control bodies are drawn as clusters
            n = sum(g.count_nodes() for g in subs)
            lines.append(_small(f"+ {n} nodes in {len(subs)} sub-graph(s), see text IR"))
        style = "array_constant" if node.prim.name == "constant" else phase
        item = self._add(self._new_id("n"), "<br/>".join(lines), style, cluster, unit, True)
        out_shape = node.outputs[0].type.shape if len(node.outputs) == 1 else None
        for v in node.inputs:
            shown = v.type.shape != out_shape and out_shape is not None
            self._edge(v, item, str(v.type) if shown else None)
        for v in node.outputs:
            self.source[v] = item.id
        return item

    def _control_bodies(self, node, item, cluster):
        """One cluster per branch / loop body, labelled by its role, with its own inputs
        (named by what they receive: carry, const, ...) and its results feeding `item`.
        Edges never cross into a body: the loop runs it many times on other values."""
        outs = ", ".join(self.names.get(v, "?") for v in node.outputs)
        head = outs if len(outs) <= 24 else outs[:21] + "..."
        for key, sub in node.attrs.items():
            if not isinstance(sub, Graph):
                continue
            cid = self._new_id("cluster_")
            self.clusters[cid] = (f"{head} = {node.prim.name}: {key}  ({sub.count_nodes()} ops)",
                                  cluster[-1] if cluster else None)
            inner = cluster + (cid,)
            self.bodies.add(cid)
            for v, role in zip(sub.inputs, _input_roles(node, key, sub)):
                label = f"<b>{_esc(self.names.get(v, '?'))}</b> {_esc(role)}<br/>{_small(v.type)}"
                self.source[v] = self._add(self._new_id("i"), label, "input", inner).id
            self._nodes(sub.nodes, inner)
            for v in sub.outputs:
                self._edge(v, item, None)


def _input_roles(node, key, sub):
    """What each input of a control node's sub-graph receives, for its label."""
    n, count = node.attrs.get("n_carry"), len(sub.inputs)
    if n is None:                                     # cond: the operands, then closed-over values
        return [f"arg {i}" for i in range(count)]
    n_in = len(node.attrs["body_graph"].inputs)
    return [f"carry {i}" if i < n else f"const {i - n}" if i < n_in else f"ct {i - n_in}"
            for i in range(count)]


def graph_to_dot(graph: Graph, *, title=None, input_names=None, wrt=None, output_names=None,
                 max_nodes=MAX_NODES, legend=True, edge_types=True, rankdir="TB", notes=()):
    """A `graphviz.Digraph` for `graph`.

    input_names / output_names: labels per graph input / output (e.g. `params['W1']`);
    wrt: indices of the differentiated inputs (None: unknown, all drawn alike);
    max_nodes: above this many drawn nodes, fold repetition (None: never);
    edge_types: label edges whose type differs from the consumer's result type.
    """
    import graphviz

    d = Drawing(graph, input_names, wrt, output_names)
    if not edge_types:
        d.edges = [(s, t, None) for s, t, _ in d.edges]
    where, boxes, notes = _fold(d, max_nodes, list(notes))

    dot = graphviz.Digraph(name="graphad")
    dot.attr(rankdir=rankdir, nodesep="0.25", ranksep="0.35", fontname=FONT, labelloc="t",
             labeljust="l", newrank="true")
    dot.attr("node", fontname=FONT, fontsize="11", margin="0.08,0.04", height="0.3")
    dot.attr("edge", fontname=FONT, fontsize="9", fontcolor="#666666", color="#555555",
             arrowsize="0.6")
    dot.attr(label=_heading(d, title, legend, notes))

    hidden = {i.id: f"fold{where[i.unit]}" for i in d.items.values()
              if i.unit is not None and i.unit in where}
    shown = [i for i in d.items.values() if i.id not in hidden]
    for k, box in enumerate(boxes):       # a box sits in the region its nodes came from
        count = sum(1 for i in d.items.values() if i.is_op and hidden.get(i.id) == f"fold{k}")
        label = "<br/>".join(_esc(line) for line in box.text.split("\n"))
        label += "<br/>" + _small(f"({count} nodes not drawn)", "#b00020")
        phase, cluster = d.unit_groups[box.units[0]]
        shown.append(Item(f"fold{k}", label, "folded_" + phase, cluster))
    by_cluster = {}
    for item in shown:
        by_cluster.setdefault(item.cluster[-1] if item.cluster else None, []).append(item)
    _emit_cluster(dot, d, None, by_cluster)
    _pin(dot, [i for i in d.items if i.startswith("out")], "max")

    _emit_edges(dot, d.edges, hidden)
    return dot


def _emit_edges(dot, edges, hidden):
    """Edges between drawn nodes as they are; edges touching a folded box once,
    dashed, with their multiplicity (and none inside a box)."""
    folded = Counter()
    for src, dst, label in edges:
        src, dst = hidden.get(src, src), hidden.get(dst, dst)
        if src.startswith("fold") or dst.startswith("fold"):
            if src != dst:
                folded[src, dst] += 1
        else:
            dot.edge(src, dst, label=label)
    for (src, dst), n in folded.items():
        dot.edge(src, dst, label=f"×{n}" if n > 1 else None, style="dashed")


def _fold(d: Drawing, max_nodes, notes):
    """(unit -> box index, boxes, notes): repetition first, blocks if that is not enough."""
    if max_nodes is None or len(d.items) <= max_nodes:
        return {}, [], notes
    where, boxes = fold_repeats(d.unit_keys, d.unit_ops)
    shown = sum(1 for i in d.items.values() if i.unit is None or i.unit not in where) + len(boxes)
    if boxes and shown <= max_nodes:
        notes.append(f"{d.node_count} nodes: repeated patterns are folded into dashed 3-D boxes "
                     f"(render with max_nodes=None to draw every node)")
        return where, boxes, notes
    fixed = sum(1 for i in d.items.values() if i.unit is None)
    target = max(4, (max_nodes - fixed) // 2)
    where, boxes = fold_blocks(d.unit_ops, d.unit_groups, target)
    notes.append(f"{d.node_count} nodes: too many to draw, so consecutive nodes are grouped "
                 f"into {len(boxes)} dashed 3-D blocks "
                 "(render with max_nodes=None to draw every node)")
    return where, boxes, notes


def _pin(dot, ids, rank):
    """Outputs on the bottom row. (Inputs stay free: pinned to the top row they
    pull long edges across the picture to where each is first used.)"""
    if not ids:
        return
    with dot.subgraph() as row:
        row.attr(rank=rank)
        for id in ids:
            row.node(id)


def _emit_cluster(dot, d: Drawing, cid, by_cluster):
    for item in by_cluster.get(cid, []):
        dot.node(item.id, f"<{item.label}>", **STYLES[item.style])
    for child, (label, parent) in d.clusters.items():
        if parent != cid or not _has_items(d, child, by_cluster):
            continue
        with dot.subgraph(name=child) as sub:
            sub.attr(label=label, labeljust="l", fontsize="10", fontcolor="#444444", **CLUSTER)
            _emit_cluster(sub, d, child, by_cluster)


def _has_items(d, cid, by_cluster):
    if by_cluster.get(cid):
        return True
    return any(parent == cid and _has_items(d, child, by_cluster)
               for child, (_, parent) in d.clusters.items())


def _heading(d: Drawing, title, legend, notes) -> str:
    """Title, legend and notes as one HTML table.

    Graphviz spreads a row's spare width over its cells, which would stretch the
    legend's swatches under a long title; a trailing filler cell, sized from a
    rough estimate of the text widths (points per character), takes it instead."""
    present = {i.style for i in d.items.values()}
    entries = [(STYLES[style], text, "") for style, text in LEGEND
               if style in present or style in ALWAYS]
    if set(d.clusters) - d.bodies:
        entries.append((CLUSTER, "fused region (cluster)", ""))
    if d.bodies:
        entries.append((CLUSTER, "branch / loop body (cluster)", ""))
    cells = [f'<td bgcolor="{s["fillcolor"]}" border="1" color="{s["color"]}"{extra}>'
             f'{_small(text, "#000000")}</td>' for s, text, extra in entries]
    cells.append(f'<td border="0">{_small("c = 2.0: constant", "#555555")}</td>')
    legend_width = sum(5.2 * len(text) + 12 for _, text, _ in entries) + 100
    widest = max([8.6 * len(title or "")] + [5.2 * len(n) for n in notes])
    span = len(cells) + 1
    rows = []
    if title:
        rows.append(f'<tr><td align="left" colspan="{span}"><font point-size="14"><b>'
                    f"{_esc(title)}</b></font></td></tr>")
    if legend:
        filler = max(1, int(widest - legend_width))
        rows.append(f'<tr>{"".join(cells)}<td border="0" width="{filler}"></td></tr>')
    rows += [f'<tr><td align="left" colspan="{span}">{_small(n, "#b00020")}</td></tr>'
             for n in notes]
    if not rows:
        return ""
    return f'<<table border="0" cellspacing="3" cellpadding="2">{"".join(rows)}</table>>'

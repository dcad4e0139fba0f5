"""The stages side by side: one picture per stage, and an HTML page that shows
them next to each other with node counts, the pass pipeline's record and the
text IR of each stage (adjoint equations highlighted as in the pictures)."""
from __future__ import annotations

import base64
import html
from collections import Counter
from pathlib import Path

from ..errors import RenderError
from ..ir.printer import graph_lines
from .dot import STYLES

_CSS = """
.graphad { font-family: Helvetica, Arial, sans-serif; color: #222; }
.graphad table.t { border-collapse: collapse; margin: 0.5em 0 1em 0; font-size: 13px; }
.graphad table.t th, .graphad table.t td { border: 1px solid #ccc; padding: 2px 8px;
  text-align: right; }
.graphad table.t th:first-child, .graphad table.t td:first-child { text-align: left; }
.graphad table.t td.ops { text-align: left; color: #555; }
.graphad .stages { display: flex; gap: 14px; overflow-x: auto; align-items: flex-start; }
.graphad .stage { flex: 1 0 340px; min-width: 340px; border: 1px solid #ddd; padding: 6px; }
.graphad .stage h2 { font-size: 14px; margin: 2px 0 6px 0; }
.graphad .stage img { max-width: 100%; }
.graphad pre.ir { font-size: 11px; line-height: 1.3; overflow-x: auto; background: #fafafa;
  padding: 4px; }
.graphad pre.ir .adj { background: ADJOINT; }
.graphad .note { color: #666; font-size: 13px; }
""".replace("ADJOINT", STYLES["adjoint"]["fillcolor"])


def stage_titles(stages) -> dict:
    """Per stage a title saying how many nodes it has and how that changed."""
    titles, previous = {}, None
    for name, graph in stages.graphs().items():
        n = graph.count_nodes()
        regions = sum(1 for node in graph.nodes if node.prim.kind == "fused")
        notes = []
        if regions:
            others = len(graph.nodes) - regions
            head = (f"{name}: {regions} fused region{'s' if regions > 1 else ''} and {others} "
                    f"other node{'' if others == 1 else 's'}")
            notes.append(f"{n} nodes counting the regions' contents")
        else:
            head = f"{name}: {n} nodes"
        if previous is not None:
            prev_name, prev_graph = previous
            if graph is prev_graph:
                notes.append(f"same graph as {prev_name}")
            else:
                m = prev_graph.count_nodes()
                notes.append(f"{prev_name}: {m}" + ("" if regions else f", {n - m:+d}"))
        titles[name] = head + (f" ({'; '.join(notes)})" if notes else "")
        previous = (name, graph)
    return titles


def _pictures(stages, **options):
    """(name, DOT graph) per stage."""
    from ..render import graph_to_dot
    titles = stage_titles(stages)
    return [(name, graph_to_dot(graph, title=titles[name], **options))
            for name, graph in stages.graphs().items()]


def write_report(stages, directory: Path, format: str, **options) -> Path:
    from ..render import FORMATS, write_dot
    if format not in FORMATS:
        raise RenderError(f"cannot render to format {format!r}; choose one of {', '.join(FORMATS)}")
    directory.mkdir(parents=True, exist_ok=True)
    files, error = {}, None
    for name, dot in _pictures(stages, **options):
        path = directory / f"{name}.{format}"
        if error is None:
            try:
                files[name] = write_dot(dot, path, format).name
                continue
            except RenderError as e:      # no `dot`: write every stage's source, then say so
                error = e
        files[name] = write_dot(dot, path.with_suffix(".dot"), "dot").name
    index = directory / "index.html"
    index.write_text(report_html(stages, images=files), encoding="utf-8")
    if error is not None:
        raise RenderError(f"wrote {index} and the DOT source of every stage to {directory}, "
                          f"but no {format} pictures: {error}")
    return index


def _table(headers, rows) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>"
                                    for cell in row) + "</tr>" for row in rows)
    return f'<table class="t"><tr>{head}</tr>{body}</table>'


def _ops(graph) -> str:
    counts = Counter()

    def walk(g):
        for node in g.nodes:
            counts[node.prim.name] += 1
            for sub in node.subgraphs():
                walk(sub)
    walk(graph)
    return ", ".join(f"{n} {op}" for op, n in counts.most_common(8)) + (
        ", ..." if len(counts) > 8 else "")


def _node_table(stages) -> str:
    rows, previous = [], None
    for name, graph in stages.graphs().items():
        n = graph.count_nodes()
        adjoint = sum(1 for node, _, _ in graph_lines(graph)
                      if node is not None and node.prim.kind != "fused"
                      and node.meta.get("phase") == "adjoint")
        change = "" if previous is None else f"{n - previous:+d}"
        rows.append([name, str(n), change, str(adjoint),
                     f'<td class="ops">{html.escape(_ops(graph))}</td>'])
        previous = n
    return _table(["stage", "nodes", "change", "adjoint nodes", "operations"], rows)


def _pass_table(records) -> str:
    if not records:
        return '<p class="note">No pass records.</p>'
    known = {"pass", "round", "before", "after", "seconds"}
    extra = sorted({k for r in records for k in r} - known)
    rows = []
    for r in records:
        row = [html.escape(str(r["pass"])), str(r["round"]), str(r["before"]), str(r["after"]),
               f"{r['after'] - r['before']:+d}", f"{r['seconds'] * 1e3:.2f}"]
        row += [html.escape(_short(r.get(k, ""))) for k in extra]
        rows.append(row)
    total = sum(r["seconds"] for r in records) * 1e3
    rows.append(["<b>total</b>", "", str(records[0]["before"]), str(records[-1]["after"]),
                 f"{records[-1]['after'] - records[0]['before']:+d}", f"{total:.2f}"]
                + [""] * len(extra))
    return _table(["pass", "round", "before", "after", "change", "ms"] + extra, rows)


def _short(value) -> str:
    if isinstance(value, dict):
        value = ", ".join(f"{k}: {v}" for k, v in value.items() if v)
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _ir_html(graph) -> str:
    lines = []
    for node, _, text in graph_lines(graph):
        text = html.escape(text)
        if node is not None and node.meta.get("phase") == "adjoint":
            text = f'<span class="adj">{text}</span>'
        lines.append(text)
    return '<pre class="ir">' + "\n".join(lines) + "</pre>"


def _inputs(stages) -> str:
    """`a = params[0] (differentiated), b = x, ...`: the text IR's input names."""
    names = getattr(stages, "input_names", None)
    if not names or len(names) != len(stages.traced.inputs):
        return ""
    from ..ir.printer import var_names
    short = var_names(stages.traced)
    wrt = set(getattr(stages, "wrt", None) or ())
    parts = [f"<code>{short[v]}</code> = {html.escape(name)}"
             + (" <i>(differentiated)</i>" if i in wrt else "")
             for i, (v, name) in enumerate(zip(stages.traced.inputs, names))]
    return f'<p class="note">Inputs: {", ".join(parts)}</p>'


def _image(name, images) -> str:
    if images == "inline":
        return ""
    file = images.get(name)
    if file is None:
        return ""
    quoted = html.escape(file, quote=True)
    if file.endswith((".svg", ".png")):
        return f'<a href="{quoted}"><img src="{quoted}" alt="{name} graph"></a>'
    return f'<p><a href="{quoted}">{html.escape(file)}</a></p>'


def _inline_image(graph, title, options) -> str:
    from ..render import graph_svg
    try:
        svg = graph_svg(graph, title=title, **options)
    except RenderError as e:
        return f'<p class="note">{html.escape(str(e))}</p>'
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img src="data:image/svg+xml;base64,{data}" alt="graph">'


def report_html(stages, images="inline", **options) -> str:
    """The report page. `images`: "inline" (embedded SVG) or {stage: file name}."""
    titles = stage_titles(stages)
    name = getattr(stages, "name", None)
    heading = f"graphad stages of <code>{html.escape(name)}</code>" if name else "graphad stages"
    columns = []
    for stage, graph in stages.graphs().items():
        if images == "inline":
            picture = _inline_image(graph, titles[stage], options)
        else:
            picture = _image(stage, images)
        columns.append(f'<section class="stage"><h2>{html.escape(titles[stage])}</h2>{picture}'
                       f'<details open><summary>text IR</summary>{_ir_html(graph)}</details>'
                       "</section>")
    legend = ('<p class="note">Blue rounded boxes: forward operations; orange boxes (and orange '
              'lines in the text IR): the adjoint (backward) computation added by reverse mode; '
              'green ellipses: differentiated inputs; dashed clusters: fused regions. '
              'Names match the text IR.</p>')
    body = (f"<h1>{heading}</h1>{legend}{_inputs(stages)}"
            f"<h3>Nodes per stage</h3>{_node_table(stages)}"
            f"<h3>Passes</h3>{_pass_table(stages.records)}"
            f'<div class="stages">{"".join(columns)}</div>')
    fragment = f'<div class="graphad"><style>{_CSS}</style>{body}</div>'
    if images == "inline":
        return fragment
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>graphad stages</title>'
            f"</head><body>{fragment}</body></html>\n")

"""Seeing graphs: Graphviz pictures of one graph, and a side-by-side report of stages.

`graph_to_dot` builds the picture (graphad/viz/dot.py says what it looks like);
`render_graph` writes it as svg / png / pdf / dot; `render_stages` writes one
picture per stage plus index.html. Only the writing of images needs Graphviz's
`dot` program: without it the `.dot` source is written and `RenderError` says
how to install Graphviz.

Stages know the user's names for inputs and which inputs are differentiated;
`remember` attaches those to the stage graphs (weakly, display only), so that
`stages.optimized.render("g.png")` draws them as `stages.render` does.
"""
from __future__ import annotations

import shutil
import weakref
from pathlib import Path

from .errors import RenderError

FORMATS = ("svg", "png", "pdf", "dot")
PNG_DPI = "110"
INSTALL_HINT = ("install Graphviz (Debian/Ubuntu: `sudo apt-get install graphviz`; macOS: "
                "`brew install graphviz`; conda: `conda install -c conda-forge graphviz`; "
                "others: https://graphviz.org/download/) so that `dot` is on PATH")

_HINTS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def remember(graph, **hints):
    """Attach display hints (input_names, wrt, output_names) to a graph."""
    _HINTS[graph] = dict(_HINTS.get(graph, {}), **hints)


def graph_to_dot(graph, **options):
    """A `graphviz.Digraph` of `graph`; `.source` is the DOT text. See viz/dot.py."""
    from .viz.dot import graph_to_dot as to_dot    # here: a first call imports render, 6 ms
    return to_dot(graph, **{**_HINTS.get(graph, {}), **options})


def find_dot():
    """Path of Graphviz's `dot` program, or None."""
    return shutil.which("dot")


def _pipe(dot, format: str) -> bytes:
    import graphviz

    if find_dot() is None:
        raise RenderError("rendering needs Graphviz's `dot` program, which is not on PATH: "
                          + INSTALL_HINT)
    if format == "png":
        dot.attr(dpi=PNG_DPI)
    try:
        return dot.pipe(format=format)
    except graphviz.ExecutableNotFound:
        raise RenderError("rendering needs Graphviz's `dot` program, which could not be run: "
                          + INSTALL_HINT) from None


def _format_of(path: Path, format):
    if format is None:
        format = path.suffix[1:].lower() or "svg"
        if format == "gv":
            format = "dot"
    if format not in FORMATS:
        raise RenderError(f"cannot render to format {format!r}; choose one of {', '.join(FORMATS)}")
    if path.suffix[1:].lower() != format:
        path = path.with_name(path.name + "." + format)
    return path, format


def write_dot(dot, path: Path, format: str) -> Path:
    """Write `dot` as `path` in `format`; without `dot`, write `.dot` and raise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if format == "dot":
        path.write_text(dot.source)
        return path
    try:
        data = _pipe(dot, format)
    except RenderError as e:
        source = path.with_suffix(".dot")
        source.write_text(dot.source)
        raise RenderError(f"{e}. The DOT source was written to {source}.") from None
    path.write_bytes(data)
    return path


def render_graph(graph, path, format=None, **options) -> Path:
    """Draw `graph` to `path` (svg, png, pdf or dot, from `format` or the suffix)."""
    path, format = _format_of(Path(path), format)
    return write_dot(graph_to_dot(graph, **options), path, format)


def graph_svg(graph, **options) -> str:
    """The SVG text of `graph` (what Jupyter shows)."""
    return _pipe(graph_to_dot(graph, **options), "svg").decode("utf-8")


def render_stages(stages, directory, format="svg", **options) -> Path:
    """One picture per stage plus index.html side by side; returns index.html's path."""
    from .viz.report import write_report
    return write_report(stages, Path(directory), format, **options)


def stages_html(stages, **options) -> str:
    """The stages report as one self-contained HTML fragment (for Jupyter)."""
    from .viz.report import report_html
    return report_html(stages, images="inline", **options)

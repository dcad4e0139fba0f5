"""`graphad demo` end to end into a temporary directory."""
from __future__ import annotations

import argparse
import re

import graphad
from graphad import demo, render


def test_demo_runs_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    # one timing size keeps compilation short; the command line times demo.TIMING_SIZES
    assert demo.main(argparse.Namespace(out=str(out), sizes=(50,))) == 0
    text = capsys.readouterr().out
    for stage in ("traced", "adjoint", "optimized", "fused"):
        assert f"--- {stage}:" in text
    assert "{ lambda a:f64[], b:f64[], c:f64[50], d:f64[50] ." in text
    assert "stage        nodes" in text                         # stats()
    errors = [float(e) for e in re.findall(r"^  df/d[ot] .* ([\d.e+-]+)$", text, re.M)]
    assert len(errors) == 2 and max(errors) < 1e-6
    if render.find_dot() is not None:
        assert f"rendered the stages to {out}/" in text
        for stage in ("traced", "adjoint", "optimized", "fused"):
            assert (out / f"{stage}.svg").read_text().lstrip().startswith("<?xml")
        assert str(out / "index.html") in text
    try:
        import graphad.eager  # noqa: F401
    except ImportError:
        assert "graphad.eager is not available" in text
    else:
        rows = re.findall(r"^ +(\d+) .* ([\d.]+)x$", text, re.M)
        assert [int(n) for n, _ in rows] == [50]
        assert all(float(ratio) > 0 for _, ratio in rows)


def test_gradient_check_reports_a_wrong_gradient(capsys):
    params, x, y = demo._data(20)
    right = graphad.grad(demo.sine_fit)
    assert demo.check_gradient(right, params, x, y)

    def wrong(p, x, y):
        g = right(p, x, y)
        return (g[0], g[1] * 1.001)
    assert not demo.check_gradient(wrong, params, x, y)
    assert "MISMATCH" in capsys.readouterr().out


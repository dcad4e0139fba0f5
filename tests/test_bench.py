"""The benchmark harness: agreement checks, skipped and mismatching peers, the table,
fresh-process first calls, the peer lowering, and `graphad bench --quick` end to end.
Nothing here asserts on a time: only that times were measured and reported."""
import json
import subprocess
import sys

import numpy as np
import pytest

import graphad
import graphad.numpy as gnp
from graphad.bench import Settings, Training, Unavailable, compare
from graphad.bench.cli import main as bench_main
from graphad.bench.impls import GraphadEager, Runner, _Peer
from graphad.bench.lowering import _dot_general, _numpy_like, lower
from graphad.tree import tree_map

from op_cases import CASES, make_args, traced_graph

FAST = Settings(rounds=2, min_rounds=1, batch_seconds=0.001, max_seconds=0.2,
                fresh_process=False)


def small_loss(w, x):
    """Module level, so a fresh process can import it."""
    return gnp.sum(gnp.tanh(x @ w) ** 2)


W = np.array([0.3, -0.2, 0.5])
X = np.arange(12.0).reshape(4, 3) / 10


class WrongPeer:
    """A fake peer whose gradient is off by 1%."""
    name = "wrong"

    def prepare(self, task):
        g = graphad.grad(task.fun, task.argnums)
        return Runner(lambda: lambda *a: tree_map(lambda v: v * 1.01, g(*a)), task.args,
                      lambda r: [np.asarray(r)])


class MissingPeer(_Peer):
    name = "missing"
    module = "graphad_no_such_framework"
    install = "pip install graphad-no-such-framework"


class EagerCopy(GraphadEager):
    """A custom implementation (module level, so it can travel to a fresh process)."""
    name = "eager-copy"


class RefusingPeer:
    name = "refusing"

    def prepare(self, task):
        raise Unavailable("cannot express this function")


def test_compare_times_implementations_that_agree():
    table = compare(small_loss, W, X, impls=["compiled", "eager"], settings=FAST)
    row = table["small_loss"]
    assert row.reference in ("eager", "compiled")
    for name in ("compiled", "eager"):
        r = row.results[name]
        assert r.status == "ok", r.message
        assert r.rel_err < 1e-12
        assert r.median_s > 0 and len(r.samples) >= 1 and r.first_call_s > 0
    assert table.ratio(row, "compiled", "eager") == pytest.approx(
        row.results["compiled"].median_s / row.results["eager"].median_s)
    text = str(table)
    assert "compiled/eager" in text and "small_loss" in text and "Machine:" in text
    assert "backend=" in text                # the compiled column names its backend


def test_a_missing_or_refusing_peer_is_skipped_with_its_reason():
    table = compare(small_loss, W, X, impls=["eager", MissingPeer(), RefusingPeer()],
                    settings=FAST)
    results = table["small_loss"].results
    assert results["eager"].status == "ok"
    assert results["missing"].status == "skipped"
    assert "not installed" in results["missing"].message
    assert "pip install graphad-no-such-framework" in results["missing"].message
    assert results["refusing"].status == "skipped"
    assert results["refusing"].median_s is None
    assert "cannot express this function" in str(table)


def test_a_disagreeing_peer_is_reported_as_a_mismatch_and_not_timed():
    table = compare(small_loss, W, X, impls=["eager", "compiled", WrongPeer()], settings=FAST)
    row = table["small_loss"]
    wrong = row.results["wrong"]
    assert wrong.status == "mismatch"
    assert wrong.median_s is None and wrong.samples == []
    assert wrong.rel_err == pytest.approx(0.01, rel=1e-6)
    assert row.reference in ("eager", "compiled")
    assert "MISMATCH" in str(table) and "disagrees with" in str(table)
    assert row.results["eager"].status == "ok"


def test_a_mismatch_is_timed_only_when_asked_and_then_marked():
    settings = Settings(rounds=1, min_rounds=1, batch_seconds=0.001, fresh_process=False,
                        time_mismatches=True)
    table = compare(small_loss, W, X, impls=["eager", "compiled", WrongPeer()],
                    settings=settings)
    wrong = table["small_loss"].results["wrong"]
    assert wrong.status == "mismatch" and wrong.median_s > 0
    assert "!" in str(table)


def test_hand_gradient_is_the_reference_and_checks_everyone():
    hand = lambda w, x: 2 * np.tanh(x @ w) * (1 - np.tanh(x @ w) ** 2) @ x  # noqa: E731
    table = compare(small_loss, W, X, hand_grad=hand, settings=FAST,
                    impls=["eager", "compiled", "numpy-hand"])
    row = table["small_loss"]
    assert row.reference == "numpy-hand"
    assert all(r.status == "ok" for r in row.results.values())


def test_training_runs_agree_and_are_timed_as_whole_runs():
    def loss(params, x, y):
        return gnp.mean((params["w"] * x + params["b"] - y) ** 2)
    x = np.linspace(-1, 1, 50)
    params = {"w": np.float64(0.0), "b": np.float64(0.0)}
    table = compare(loss, params, x, 2 * x + 1, impls=["eager", "compiled"],
                    train=Training(steps=30, step_size=0.2, mass=0.5), settings=FAST)
    row = table["loss"]
    assert row.kind == "training run (30 steps)"
    assert all(r.status == "ok" and r.median_s > 0 for r in row.results.values())
    assert "training run (30 steps)" in str(table)


def test_json_export_round_trips(tmp_path):
    table = compare(small_loss, W, X, impls=["eager", MissingPeer()], settings=FAST)
    path = tmp_path / "out.json"
    text = table.to_json(path)
    data = json.loads(path.read_text())
    assert data == json.loads(text)
    result = data["rows"][0]["results"]
    assert result["eager"]["status"] == "ok" and result["eager"]["median_s"] > 0
    assert result["missing"]["status"] == "skipped"
    assert data["machine"]["cores"] >= 1 and "numpy" in data["machine"]["versions"]


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    table = compare(small_loss, W, X, impls=["eager", "compiled"], settings=FAST)
    path = table.plot(tmp_path / "t.png")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_get_it(monkeypatch):
    table = compare(small_loss, W, X, impls=["eager"], settings=FAST)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(graphad.GraphadError, match="pip install matplotlib"):
        table.plot("never.png")


def test_first_call_in_fresh_processes_cold_and_warm():
    settings = Settings(rounds=1, min_rounds=1, batch_seconds=0.001, fresh_process=True)
    table = compare(small_loss, W, X, impls=["eager", "compiled", EagerCopy(), WrongPeer()],
                    settings=settings)
    results = table["small_loss"].results
    for name in ("eager", "compiled", "eager-copy"):
        r = results[name]
        assert r.fresh_note == "" and r.cold_s > 0 and r.warm_s > 0, r.fresh_note
    assert results["wrong"].cold_s is None       # a mismatch is not measured further


def test_first_call_runs_one_child_per_label_sharing_the_caches(monkeypatch):
    from graphad.bench import firstcall
    from graphad.bench.impls import Task
    task = Task(small_loss, (W, X))
    children = []

    def fake_child(spec, env, timeout, warm_numba=False):
        children.append((env["GRAPHAD_CACHE_DIR"], warm_numba))
        return {"eager-copy": 0.5 + len(children)}
    monkeypatch.setattr(firstcall, "_run_child", fake_child)
    assert firstcall.fresh_process_first_calls(task, [EagerCopy()], labels=("cold",)) == \
        {"eager-copy": {"cold": 1.5}}
    assert len(children) == 1                    # no warm child whose result is dropped
    children.clear()
    entry = firstcall.fresh_process_first_calls(task, [EagerCopy()],
                                                labels=("cold", "warm", "numba ready"))
    assert entry == {"eager-copy": {"cold": 1.5, "warm": 2.5, "numba ready": 3.5}}
    assert [warm for _, warm in children] == [False, False, True]
    assert len({cache for cache, _ in children}) == 1
    with pytest.raises(graphad.GraphadError, match="unknown first-call run"):
        firstcall.fresh_process_first_calls(task, [EagerCopy()], labels=("hot",))


def test_a_child_with_numba_warmed_up_times_the_first_call():
    from graphad.bench.firstcall import fresh_process_first_calls
    from graphad.bench.impls import Task
    entry = fresh_process_first_calls(Task(small_loss, (W, X)), [EagerCopy()],
                                      labels=("numba ready",))["eager-copy"]
    assert set(entry) == {"numba ready", "imports"} and entry["numba ready"] > 0, entry


def test_the_numba_backend_is_imported_before_a_first_call_is_timed():
    # graphad imports Numba on first use; a named column must not time that import
    from graphad.bench.impls import GraphadCompiled, Jax
    assert GraphadCompiled("numba", name="graphad-numba").imports == \
        ("numba", "graphad.backends.numba")
    assert GraphadCompiled().imports == GraphadCompiled("numba").imports    # the default
    assert GraphadCompiled("numpy", name="graphad-numpy").imports == ()
    assert "jax.numpy" in Jax().imports


def test_a_lambda_cannot_go_to_a_fresh_process_and_the_table_says_so():
    settings = Settings(rounds=1, min_rounds=1, batch_seconds=0.001, fresh_process=True)
    table = compare(lambda w: gnp.sum(w * w), W, impls=["eager"], settings=settings)
    r = table.rows[0].results["eager"]
    assert r.cold_s is None and "pickled" in r.fresh_note
    assert "first call in a fresh process not measured" in str(table)


def test_unknown_implementation_name_is_an_error():
    with pytest.raises(graphad.GraphadError, match="unknown implementation"):
        compare(small_loss, W, X, impls=["tensorflow"], settings=FAST)


# ---- the peers' lowering, checked with numpy as the "peer" ----------------------------

NUMPY_TABLE = _numpy_like(np, {"sigmoid": lambda x: 1 / (1 + np.exp(-x)),
                               "stop_gradient": lambda x: x,
                               "logsumexp": lambda x, axis: np.log(np.sum(np.exp(x), axis=axis))})
NUMPY_TABLE["dot_general"] = _dot_general(np.transpose, np.reshape, np.matmul)
LOWERABLE = [c for c in CASES
             if all(n.prim.name in NUMPY_TABLE or n.prim.name == "constant"
                    for n in traced_graph(c)[0].nodes)]


def test_most_of_the_op_suite_is_lowerable():
    assert len(LOWERABLE) > 300


@pytest.mark.parametrize("case", LOWERABLE, ids=lambda c: c.name)
def test_lowered_graph_computes_what_graphad_computes(case):
    graph, args = traced_graph(case)
    want = graphad.backends.numpy.evaluate(graph, args)
    with np.errstate(all="ignore"):
        got = lower(graph, NUMPY_TABLE, lambda v: v)(*args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g, w.dtype), w, rtol=1e-12, atol=1e-12,
                                   equal_nan=True)


def test_installed_peers_agree_on_a_small_function():
    peers = [name for name in ("jax", "autograd", "torch") if _installed(name)]
    if not peers:
        pytest.skip("no peer installed")
    table = compare(small_loss, W, X, impls=["eager", *peers], settings=FAST)
    for name in peers:
        r = table["small_loss"].results[name]
        assert r.status == "ok", r.message


def _installed(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# ---- the command line -------------------------------------------------------------

def test_graphad_bench_quick_runs_end_to_end(tmp_path):
    path = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, "-m", "graphad.cli", "bench", "--quick", "--impls",
         "compiled,eager,numpy-hand", "--only", "W1-50,W5,W7,linreg-train",
         "--json", str(path)],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "compiled/eager" in proc.stdout and "First call" in proc.stdout
    assert "[4/4] linreg-train done" in proc.stderr
    rows = {r["name"]: r for r in json.loads(path.read_text())["rows"]}
    assert set(rows) == {"W1-50", "W5", "W7", "linreg-train"}
    for name, row in rows.items():
        assert row["results"]["compiled"]["status"] == "ok", name
        assert row["results"]["eager"]["status"] == "ok", name
        assert row["results"]["compiled"]["cold_s"] > 0, name
    assert rows["W5"]["results"]["numpy-hand"]["status"] == "ok"


def test_graphad_bench_lists_workloads_and_rejects_unknown_names(capsys):
    assert bench_main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "W4" in out and "mlp-train" in out
    assert bench_main(["--only", "W99"]) == 2
    assert "unknown workload" in capsys.readouterr().err


# ---- timing and the issue-#9 table (benchmarks/perf_table.py) ------------------------

def test_interleaved_samples_respect_the_round_budget():
    from graphad.bench.timing import samples
    fns = {"a": lambda: sum(range(100)), "b": lambda: sum(range(200))}
    cut = samples(fns, rounds=1000, batch_seconds=0.002, budget=0.01, min_rounds=3, pause=0.0)
    assert len(cut["a"]) == len(cut["b"]) == 3           # the budget cut 1000 rounds to 3
    full = samples(fns, rounds=4, batch_seconds=0.001, pause=0.0)
    assert len(full["a"]) == len(full["b"]) == 4
    assert all(t > 0 for t in cut["a"] + cut["b"] + full["a"] + full["b"])


def _perf_table():
    import os
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks"))
    import perf_table
    return perf_table


def test_perf_table_checks_ratio_time_and_first_call_targets():
    from graphad.bench.compare import Result, Row
    from graphad.bench.report import machine_info
    perf_table = _perf_table()

    def row(name, mine, jax, jax_status="ok"):
        return Row(name, "", "gradient", "graphad-numba",
                   {"graphad-numba": Result("graphad-numba", "ok", median_s=mine),
                    "jax": Result("jax", jax_status, "jax is not installed", median_s=jax)})
    rows = [row("W3", 0.9e-3, 1e-3), row("W6", 2e-3, 3e-3), row("W7", 2e-3, None, "skipped"),
            row("W5", 1.5e-6, 1e-5), row("W1-50", 2.5e-6, 1e-5)]
    firsts = {"W2": {"cold": 1.2, "warm": 0.4, "numba ready": 0.05, "all cold": 3.0,
                     "imports": 0.16, "runs": 3, "note": ""},
              "W3": {"cold": None, "warm": 0.2, "numba ready": None, "all cold": None,
                     "imports": None, "runs": 1, "note": "cold: the child process failed"}}
    lines = perf_table.markdown(rows, firsts, machine_info(), perf_table.FULL, False,
                                "Numba 2 threads").splitlines()
    assert "| W3 | 900 µs |  |  |  | 1 ms | 0.90x | ≤ 1.0x JAX | yes |" in lines
    assert "| W6 | 2 ms |  |  |  | 3 ms | 0.67x | ≤ 0.5x JAX | **no** |" in lines
    assert "| W7 | 2 ms |  |  |  | - | - | ≤ 1.0x JAX | n/a |" in lines
    assert "| W5 | 1.5 µs |  |  |  | 10 µs | 0.15x | < 2 µs | yes |" in lines
    assert "| W1-50 | 2.5 µs |  |  |  | 10 µs | 0.25x | < 2 µs | **no** |" in lines
    assert "| W2 | 1.2 s | 400 ms | 50 ms | ≤ 1.5 s / ≤ 0.3 s | yes / **no** | 3 s | 160 ms |" \
        in lines
    assert "| W3 | - | 200 ms | - | ≤ 1.5 s / ≤ 0.3 s | **no** / yes | - | - |" in lines
    assert "- W3 first call: cold: the child process failed" in lines
    assert "- W7, jax: skipped: jax is not installed" in lines
    assert any(line.startswith("Machine: ") and "cores" in line for line in lines)


def test_perf_table_verdict_is_no_when_graphads_own_result_is_wrong():
    from graphad.bench.compare import Result, Row
    perf_table = _perf_table()

    def row(name, mine):
        return Row(name, "", "gradient", "jax",
                   {"graphad-numba": mine, "jax": Result("jax", "ok", median_s=1e-3)})
    wrong = Result("graphad-numba", "mismatch", "disagrees with jax")
    timed_wrong = Result("graphad-numba", "mismatch", "disagrees", median_s=1e-4)
    failed = Result("graphad-numba", "error", "NumbaError: boom")
    assert perf_table.target_cells(row("W3", wrong)) == ("-", "≤ 1.0x JAX", "**no**")
    assert perf_table.target_cells(row("W3", timed_wrong)) == ("-", "≤ 1.0x JAX", "**no**")
    assert perf_table.target_cells(row("W5", failed)) == ("-", "< 2 µs", "**no**")
    assert perf_table.result_cell(wrong) == "MISMATCH"
    assert perf_table.result_cell(timed_wrong) == "100 µs!"
    assert perf_table.result_cell(failed) == "error"

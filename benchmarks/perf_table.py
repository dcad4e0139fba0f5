"""The issue-#9 performance table, printed as Markdown.

    .venv/bin/python benchmarks/perf_table.py             # full, 2-3 minutes
    .venv/bin/python benchmarks/perf_table.py --quick     # smoke run, under 30 s
    .venv/bin/python benchmarks/perf_table.py --only W3,W7 --no-first-call

Per workload W1-W7 (graphad/bench/workloads.py), the gradient's median time per
call over interleaved rounds, in one run, for: graphad's Numba backend,
graphad's numpy backend, the hand-written vectorized numpy gradient, the
hand-written fused `@njit(parallel=True)` kernel (hand_kernels.py) and JAX
(`jax.jit(jax.grad)`, float64 enabled; a column of dashes when JAX is not
installed). Every column's result is checked against the others first
(graphad.bench.compare.run_task); a disagreeing one is reported, not timed.
Then graphad/JAX against issue #9's targets, and the first call of the graphad
gradient in fresh processes with an empty and then a warm GRAPHAD_CACHE_DIR
(graphad.bench.firstcall), the latter also with Numba's one-time initialization
done beforehand (graphad's own part). --quick cuts the large workloads to a few
thousand rows (graphad.bench.cli.QUICK_ROWS), so its ratios are not the targets'.

BLAS uses OpenBLAS's default threads (all cores) unless OPENBLAS_NUM_THREADS says
otherwise. Its worker threads would spin for about 70 ms after each product and
fight Numba's parallel loops for the 2 cores (W6 ran 5-8x slower); OPENBLAS_THREAD_TIMEOUT=16
(2**16 cycles, ~20 us), as graphad's Numba backend sets it for SciPy's OpenBLAS, is
set here before numpy loads its own, so every column runs alike. The table records
OPENBLAS_CORETYPE: forcing OpenBLAS's Haswell kernels on an AVX-512 machine made W3's
products 1.8x slower.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

# as graphad's Numba backend sets them, before numpy loads OpenBLAS and before any
# column starts OpenMP
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "16")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from graphad.bench.cli import task_of                                   # noqa: E402
from graphad.bench.compare import Settings, run_task                    # noqa: E402
from graphad.bench.firstcall import fresh_process_first_calls           # noqa: E402
from graphad.bench.impls import GraphadCompiled, Jax, NumpyHand         # noqa: E402
from graphad.bench.report import format_seconds, machine_info, result_cell  # noqa: E402
from graphad.bench.workloads import BY_NAME                             # noqa: E402
from hand_kernels import NumbaHand                                      # noqa: E402

GRAPHAD = GraphadCompiled("numba", name="graphad-numba")
COLUMNS = {GRAPHAD: "graphad numba", GraphadCompiled("numpy", name="graphad-numpy"):
           "graphad numpy", NumpyHand(): "numpy hand", NumbaHand(): "numba hand",
           Jax(): "JAX"}
WORKLOADS = ("W1-50", "W1-1e6", "W2", "W3", "W4", "W5", "W6", "W7")

# Issue #9's targets: graphad's time over JAX's in the same run, or seconds per call.
RATIO_TARGETS = {"W1-1e6": 0.3, "W2": 0.6, "W3": 1.0, "W4": 0.4, "W6": 0.5, "W7": 1.0}
TIME_TARGETS = {"W1-50": 2e-6, "W5": 2e-6}
# First call in a fresh process, seconds: (empty cache, warm cache), None for no target.
FIRST_CALL_TARGETS = {"W2": (1.5, 0.3), "W3": (1.5, 0.3), "W4": (2.0, None)}

FULL = Settings(rounds=9, min_rounds=5, batch_seconds=0.05, max_seconds=25.0,
                fresh_process=False)
QUICK = Settings(rounds=3, min_rounds=2, batch_seconds=0.005, max_seconds=1.0,
                 fresh_process=False)


def enable_jax_x64():
    """JAX in float64 from the start (float32 workloads stay float32); False if absent."""
    try:
        import jax
    except ImportError:
        return False
    jax.config.update("jax_enable_x64", True)
    return True


def steady_state(names, quick, say):
    """Rows of graphad.bench.compare.Row, one per workload."""
    rows = []
    for name in names:
        t0 = time.perf_counter()
        task = task_of(BY_NAME[name], quick)
        rows.append(run_task(task, list(COLUMNS), QUICK if quick else FULL,
                             lambda text, name=name: say(f"{name}: {text}")))
        say(f"{name} done in {time.perf_counter() - t0:.1f} s")
    return rows


def first_calls(names, repeats, say, everything_cold=True):
    """{workload: {column: median seconds or None, "runs": n, "note": text}} for the
    graphad gradient: "cold" / "warm" with an empty / warm GRAPHAD_CACHE_DIR (Numba's
    cache of graphad's own helpers as installed), "numba ready" warm after Numba's own
    one-time initialization (graphad.bench.firstcall.LABELS), "all cold" with Numba's
    cache empty too: a pass of its own whose "cold" child is the only one run; "imports":
    importing Numba and graphad's Numba backend before the timing."""
    passes = [(False, ("cold", "warm", "numba ready"), "")]
    if everything_cold:
        passes.append((True, ("cold",), "all "))
    out = {}
    for name in names:
        task = task_of(BY_NAME[name])            # full size: the compiled code differs by shape
        times = {"cold": [], "warm": [], "numba ready": [], "all cold": [], "imports": []}
        notes = []
        for i in range(repeats):
            say(f"{name}: first call in fresh processes ({i + 1}/{repeats})")
            for fresh_numba, labels, prefix in passes:
                entry = fresh_process_first_calls(task, [GRAPHAD], fresh_numba_cache=fresh_numba,
                                                  labels=labels)[GRAPHAD.name]
                for label in labels:
                    if label in entry:
                        times[prefix + label].append(entry[label])
                if not prefix and "imports" in entry:      # the same modules in every pass
                    times["imports"].append(entry["imports"])
                if entry.get("note"):
                    notes.append(prefix + entry["note"])
        out[name] = {column: statistics.median(v) if v else None for column, v in times.items()}
        out[name].update(runs=repeats, note="; ".join(sorted(set(notes))))
    return out


# ---- Markdown -------------------------------------------------------------------

def _verdict(value, limit, failed=False):
    """failed: graphad produced no valid result, so the target is not met; otherwise a
    missing value (JAX's, for a ratio) leaves the verdict open."""
    if failed:
        return "**no**"
    if value is None:
        return "n/a"
    return "yes" if value <= limit else "**no**"


def target_cells(row):
    """(graphad/JAX ratio cell, target cell, met cell) for one row."""
    mine, jax = row.results[GRAPHAD.name], row.results.get("jax")
    failed = mine.status != "ok"                 # a mismatch or an error does not meet it
    ratio = (mine.median_s / jax.median_s if not failed and jax is not None
             and jax.median_s is not None else None)
    ratio_cell = "-" if ratio is None else f"{ratio:.2f}x"
    if row.name in RATIO_TARGETS:
        limit = RATIO_TARGETS[row.name]
        return ratio_cell, f"≤ {limit}x JAX", _verdict(ratio, limit, failed)
    if row.name in TIME_TARGETS:
        limit = TIME_TARGETS[row.name]
        return ratio_cell, f"< {format_seconds(limit)}", _verdict(mine.median_s, limit, failed)
    return ratio_cell, "", ""


def markdown(rows, firsts, machine, settings, quick, threads) -> str:
    lines = ["## graphad performance (issue #9)", ""]
    lines += machine_lines(machine, threads)
    lines += ["", f"Gradient per call: median over up to {settings.rounds} interleaved rounds "
              f"(batches of at least {settings.batch_seconds * 1e3:g} ms), all columns in one "
              "run; lower is better."
              + (" **--quick: large workloads cut to a few thousand rows; ratios are not "
                 "comparable with the targets.**" if quick else ""), ""]
    names = [COLUMNS[impl] for impl in COLUMNS]
    lines.append("| workload | " + " | ".join(names) + " | graphad/JAX | target | met |")
    lines.append("|---" + "|---:" * (len(names) + 1) + "|---|---|")
    for row in rows:
        cells = [result_cell(row.results.get(impl.name)) for impl in COLUMNS]
        lines.append(f"| {row.name} | " + " | ".join(cells + list(target_cells(row))) + " |")
    if firsts:
        repeats = max(entry["runs"] for entry in firsts.values())
        lines += ["", "First call of the graphad (numba) gradient in a fresh process (trace + "
                  "optimize + compile + run; imports excluded), median of "
                  f"{repeats}: with an empty GRAPHAD_CACHE_DIR (Numba's cache of graphad's "
                  "own @njit helpers as installed), then with the cache that run left; the "
                  "last column empties NUMBA_CACHE_DIR too (a first use after installing). "
                  "The warm-cache column is what the call costs a fresh process, including "
                  "Numba's one-time initialization (its target registries; "
                  "numba.np.arraymath's BLAS check, for which graphad.cache loads "
                  "scipy.linalg.cython_blas alone) that any Numba program pays once per "
                  "process; \"graphad's own part\" is the same call in a fresh process that "
                  "first ran a trivial cached @njit np.dot function (graphad.bench.warmup), "
                  "so their difference is Numba's. The targets are checked on the first two. "
                  "Not in any of them: importing Numba and graphad's Numba backend, which "
                  "graphad does on first use (last column; `import graphad` itself is "
                  "excluded too).",
                  "", "| workload | empty cache | warm cache | graphad's own part | target | "
                  "met | all caches empty | imports |", "|---|---:|---:|---:|---|---|---:|---:|"]
        for name, entry in firsts.items():
            cold_limit, warm_limit = FIRST_CALL_TARGETS[name]
            target = f"≤ {cold_limit:g} s" + (f" / ≤ {warm_limit:g} s" if warm_limit else "")
            # no time: the child failed (the notes say why), so the target is not met
            met = _verdict(entry["cold"], cold_limit, entry["cold"] is None)
            if warm_limit:
                met += " / " + _verdict(entry["warm"], warm_limit, entry["warm"] is None)
            lines.append(f"| {name} | {format_seconds(entry['cold'])} | "
                         f"{format_seconds(entry['warm'])} | "
                         f"{format_seconds(entry['numba ready'])} | {target} | {met} | "
                         f"{format_seconds(entry['all cold'])} | "
                         f"{format_seconds(entry['imports'])} |")
    notes = problem_notes(rows, firsts)
    if notes:
        lines += ["", "Notes:", *notes]
    return "\n".join(lines)


def machine_lines(machine, threads):
    m = machine
    versions = m.get("versions", {})
    return [
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores"
        + (f" ({m['usable cores']} usable)" if "usable cores" in m else "")
        + (f", {m['memory']}" if "memory" in m else "") + f"; {m.get('platform')}.",
        "Versions: Python " + m.get("python", "?") + ", " + ", ".join(
            f"{k} {versions[k]}" for k in ("numpy", "numba", "jax", "jaxlib") if k in versions)
        + ".",
        f"Threads and BLAS: {threads}; " + ", ".join(
            f"{k}={v}" for k, v in m.get("thread settings", {}).items()) + ".",
        f"Measured {m.get('date')}; load average (1, 5, 15 min) at the start "
        f"{m.get('load average')}, at the end {_load()}: other work on the machine slows "
        "every column alike only on average, so compare ratios, not absolute times.",
    ]


def problem_notes(rows, firsts):
    notes = []
    for row in rows:
        for name, r in row.results.items():
            if r.status != "ok":
                notes.append(f"- {row.name}, {name}: {r.status}: {r.message}")
    for name, entry in firsts.items():
        if entry["note"]:
            notes.append(f"- {name} first call: {entry['note']}")
    return notes


def _load():
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _threads():
    import numba
    try:
        layer = numba.threading_layer()
    except ValueError:              # no parallel kernel has run
        layer = "not started"
    return f"Numba {numba.get_num_threads()} threads ({layer} layer)"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, few rounds, first call of W2 only, once (< 1 minute)")
    ap.add_argument("--only", metavar="NAMES", help="comma-separated workloads (default all)")
    ap.add_argument("--repeats", type=int, metavar="N",
                    help="fresh-process first calls per workload (default 3, --quick 1)")
    ap.add_argument("--no-first-call", action="store_true",
                    help="skip the first-call rows (fresh processes)")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(WORKLOADS)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        ap.error(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    if not enable_jax_x64():
        say("JAX is not installed: its column stays empty (pip install 'jax[cpu]')")
    machine = machine_info()
    start = time.perf_counter()
    rows = steady_state(names, args.quick, say)
    firsts = {}
    if not args.no_first_call:
        chosen = [n for n in FIRST_CALL_TARGETS if n in names][:1 if args.quick else None]
        firsts = first_calls(chosen, args.repeats or (1 if args.quick else 3), say,
                             everything_cold=not args.quick)
    print(markdown(rows, firsts, machine, QUICK if args.quick else FULL, args.quick,
                   _threads()))
    say(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

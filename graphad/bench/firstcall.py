"""First call of a gradient in a fresh Python process: cold, then with a warm cache.

The parent pickles the task and the implementations (functions and classes
travel by their importable names) and runs
`python -m graphad.bench.firstcall TASK.pkl` once per label (LABELS) with the
same fresh cache directories (GRAPHAD_CACHE_DIR for graphad's compiled code
and, unless told not to, NUMBA_CACHE_DIR for Numba's): the first run starts
from an empty cache, each later one finds what the earlier ones left. The
child imports graphad and each implementation's `imports` first (not timed, but
reported as "imports": for graphad's Numba backend that is Numba itself, which
graphad imports on first use), then times, per implementation, building its
gradient function and calling it once, and prints the seconds as JSON.
"""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import time

from ..errors import GraphadError

_MARK = "GRAPHAD-FIRSTCALL "
_WARM_NUMBA = "--warm-numba"

# The kinds of child run. "cold" and "warm" differ only in what earlier runs left in the
# caches. "numba ready" first runs a trivial cached Numba function, not timed
# (graphad.bench.warmup): Numba's once-per-process initialization is then done, as in a
# process that has already run Numba code, and the time left is the implementation's own.
LABELS = ("cold", "warm", "numba ready")
IMPORTS = "imports"       # seconds the child spent importing the implementations' modules


def portability_problem(task, impls) -> str | None:
    """Why the task cannot be recreated in another process, or None."""
    for what, obj in (("function", task.fun), ("hand gradient", task.hand_grad),
                      *(("implementation " + impl.name, type(impl)) for impl in impls)):
        if obj is not None and getattr(obj, "__module__", None) == "__main__":
            return (f"the {what} is defined in __main__; define it in an importable module "
                    "to time its first call in a fresh process")
    try:
        pickle.dumps((task, list(impls)))
    except Exception as e:
        return f"the task cannot be pickled for a fresh process ({type(e).__name__}: {e})"
    return None


def fresh_process_first_calls(task, impls, timeout=600.0, fresh_numba_cache=True,
                              labels=("cold", "warm")) -> dict:
    """{impl name: {label: s for each of `labels`, "imports": s the first child spent
    importing before its timing (every implementation's imports together, so the same
    for each), "note": why one is missing (if any)}}.

    One child process per label, in the order given, sharing the cache directories: pass
    ("cold",) to time an empty cache only. fresh_numba_cache=False keeps Numba's own cache
    (NUMBA_CACHE_DIR as inherited, where the installed library's @njit(cache=True) helpers
    live): only graphad's cache starts empty.
    """
    unknown = [label for label in labels if label not in LABELS]
    if unknown:
        raise GraphadError(f"unknown first-call run(s) {unknown}; known: {', '.join(LABELS)}")
    names = [impl.name for impl in impls]
    if not names:
        return {}
    problem = portability_problem(task, impls)
    if problem:
        return {name: {"note": problem} for name in names}
    with tempfile.TemporaryDirectory(prefix="graphad-bench-") as tmp:
        spec = os.path.join(tmp, "task.pkl")
        with open(spec, "wb") as f:
            pickle.dump({"task": task, "impls": list(impls)}, f)
        env = dict(os.environ,
                   GRAPHAD_CACHE_DIR=os.path.join(tmp, "graphad-cache"),
                   PYTHONPATH=os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)))
        if fresh_numba_cache:
            env["NUMBA_CACHE_DIR"] = os.path.join(tmp, "numba-cache")
        runs = {label: _run_child(spec, env, timeout, warm_numba=label == "numba ready")
                for label in labels}
    out = {}
    for name in names:
        entry, notes = {}, []
        for label, run in runs.items():
            if IMPORTS in run:
                entry.setdefault(IMPORTS, float(run[IMPORTS]))
            value = run.get(name, run.get("*", "no result"))
            if isinstance(value, (int, float)):
                entry[label] = float(value)
            else:
                notes.append(f"{label}: {value}")
        if notes:
            entry["note"] = "; ".join(notes)
        out[name] = entry
    return out


def _run_child(spec, env, timeout, warm_numba=False) -> dict:
    argv = [sys.executable, "-m", "graphad.bench.firstcall", spec]
    try:
        proc = subprocess.run(argv + [_WARM_NUMBA] * warm_numba,
                              env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"*": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK):])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"*": f"the child process failed (exit {proc.returncode}): {tail}"}


def _preimport(impls) -> float:
    """Import what each implementation needs (its `imports`: a peer's package, the
    Numba backend graphad imports on first use), so the timing excludes imports; the
    seconds those imports took."""
    import graphad  # noqa: F401
    t0 = time.perf_counter()
    for impl in impls:
        for module in getattr(impl, "imports", ()):
            try:
                __import__(module)
            except ImportError:
                pass
    return time.perf_counter() - t0


def main(argv) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: python -m graphad.bench.firstcall TASK.pkl [{_WARM_NUMBA}]\n"
              "the child process of fresh_process_first_calls (graphad.bench.firstcall); "
              "time first calls with benchmarks/perf_table.py --only W2,W3")
        return 0 if argv else 2
    with open(argv[0], "rb") as f:
        spec = pickle.load(f)          # imports the modules of the function and implementations
    task, impls = spec["task"], spec["impls"]
    imports = _preimport(impls)
    if _WARM_NUMBA in argv[1:]:
        from .warmup import warm_up
        warm_up()
    out = {IMPORTS: imports}
    for impl in impls:
        name = impl.name
        try:
            runner = impl.prepare(task)
            t0 = time.perf_counter()
            grad_fn = runner.build()
            runner.sync(grad_fn(*runner.args))
            out[name] = time.perf_counter() - t0
        except Exception as e:
            out[name] = f"{type(e).__name__}: {e}"
    print(_MARK + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

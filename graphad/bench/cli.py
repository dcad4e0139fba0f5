"""`graphad bench`: run the bundled workloads through every implementation.

Prints progress on stderr while it runs and the table on stdout at the end.
"""
from __future__ import annotations

import argparse
import sys
import time

from ..errors import GraphadError
from ..tree import tree_flatten, tree_unflatten
from .compare import QUICK, Settings, resolve_impls, run_task
from .impls import BY_NAME, Task, Training
from .report import Table, machine_info
from .workloads import TRAINING, WORKLOADS

# --quick cuts the large workloads to this many rows (every array whose leading
# axis has the workload's largest length); the others run at full size.
QUICK_ROWS = {"W1-1e6": 20_000, "W4": 20_000, "W6": 2_000, "W7": 20_000}


def _parser():
    p = argparse.ArgumentParser(
        prog="graphad bench",
        description="Time gradients of the bundled workloads in graphad compiled and eager "
                    "and, where installed, JAX, HIPS autograd and PyTorch.",
        epilog="On a small or busy machine, multi-threaded BLAS and OpenMP runtimes can stall "
               "for tens of milliseconds per call; OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 "
               "graphad bench gives steadier numbers (the table records thread settings and "
               "the load average).")
    p.add_argument("--only", metavar="NAMES",
                   help="comma-separated workload names (see --list)")
    p.add_argument("--impls", metavar="NAMES",
                   help="comma-separated implementations (default: all): "
                        "compiled, eager, numpy-hand, jax, autograd, torch")
    p.add_argument("--quick", action="store_true",
                   help="small sizes and few rounds (a smoke run, under a minute)")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--plot", metavar="PATH", help="also plot the times to a PNG (matplotlib)")
    p.add_argument("--ratio-of", metavar="NAME", default="compiled",
                   help="ratio columns show NAME's time over each other's (default: compiled)")
    p.add_argument("--rounds", type=int, metavar="N", help="interleaved rounds per workload")
    p.add_argument("--no-fresh-process", action="store_true",
                   help="skip timing first calls in fresh processes")
    p.add_argument("--time-mismatches", action="store_true",
                   help="time implementations whose gradient disagrees too (marked !)")
    p.add_argument("--backend", metavar="NAME",
                   help="graphad backend of the compiled column (default: graphad.compile's)")
    p.add_argument("--torch-threads", type=int, metavar="N",
                   help="PyTorch intra-op threads (default: torch's own, from OMP_NUM_THREADS)")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    return p


def _selected(only):
    everything = list(WORKLOADS) + list(TRAINING)
    if not only:
        return everything
    by_name = {w.name.lower(): w for w in everything}
    names = [n.strip().lower() for n in only.split(",") if n.strip()]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise GraphadError(f"unknown workload(s) {', '.join(unknown)}; known: "
                           + ", ".join(w.name for w in everything))
    return [by_name[n] for n in names]


def _cut_rows(tree, rows):
    """Slice every array whose leading axis has the tree's largest length to `rows`."""
    leaves, treedef = tree_flatten(tree)
    lengths = [leaf.shape[0] for leaf in leaves if getattr(leaf, "ndim", 0) >= 1]
    if not lengths:
        return tree
    n = max(lengths)
    return tree_unflatten(treedef, [leaf[:rows] if getattr(leaf, "ndim", 0) >= 1
                                    and leaf.shape[0] == n else leaf for leaf in leaves])


def task_of(workload, quick=False) -> Task:
    params, data = workload.make()
    if quick and workload.name in QUICK_ROWS:
        params, data = _cut_rows((params, data), QUICK_ROWS[workload.name])
    train = None
    if hasattr(workload, "steps"):
        steps = workload.quick_steps if quick else workload.steps
        train = Training(steps, workload.step_size, workload.mass)
    return Task(workload.fun, (params, *data), 0, train,
                getattr(workload, "numpy_grad", None), workload.name)


class _Progress:
    """One status line on a terminal; plain lines per workload otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.live = stream.isatty()

    def status(self, text):
        if self.live:
            self.stream.write("\r\033[K" + text[:120])
            self.stream.flush()

    def line(self, text):
        if self.live:
            self.stream.write("\r\033[K")
        self.stream.write(text + "\n")
        self.stream.flush()


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        workloads = _selected(args.only)
        impls = resolve_impls(args.impls.split(",") if args.impls else None)
    except GraphadError as e:
        print(f"graphad bench: {e}", file=sys.stderr)
        return 2
    if args.list:
        for w in workloads:
            print(f"{w.name:<14} {w.description}")
        return 0
    BY_NAME["torch"].threads = args.torch_threads
    BY_NAME["compiled"].backend = args.backend
    base = QUICK if args.quick else Settings()
    settings = Settings(rounds=args.rounds or base.rounds, min_rounds=base.min_rounds,
                        batch_seconds=base.batch_seconds, max_seconds=base.max_seconds,
                        fresh_process=not args.no_fresh_process, fresh_impls=base.fresh_impls,
                        time_mismatches=args.time_mismatches)
    progress = _Progress()
    rows, start = [], time.perf_counter()
    for i, workload in enumerate(workloads, 1):
        label = f"[{i}/{len(workloads)}] {workload.name}"
        progress.status(f"{label}: preparing data")
        t0 = time.perf_counter()
        task = task_of(workload, args.quick)
        row = run_task(task, impls, settings,
                       lambda text, label=label: progress.status(f"{label}: {text}"),
                       workload.description)
        flagged = [f"{n} {r.status}" for n, r in row.results.items()
                   if r.status in ("mismatch", "error")]
        skipped = sum(r.status == "skipped" for r in row.results.values())
        flagged += [f"{skipped} skipped"] if skipped else []
        progress.line(f"{label} done in {time.perf_counter() - t0:.1f} s"
                      + (f" ({', '.join(flagged)})" if flagged else ""))
        rows.append(row)
    notes = []
    if args.quick:
        cut = ", ".join(f"{name} to {rows_} rows" for name, rows_ in QUICK_ROWS.items()
                        if any(w.name == name for w in workloads))
        notes.append("--quick: few rounds" + (f"; cut {cut}" if cut else "")
                     + "".join(f"; {w.name} shortened to {w.quick_steps} steps"
                               for w in workloads if hasattr(w, "steps")))
    table = Table(rows, machine_info(), settings, args.ratio_of, notes)
    print(table)
    env = "".join(f"{k}={v} " for k, v in table.machine.get("thread settings", {}).items())
    print(f"\nTotal {time.perf_counter() - start:.0f} s. Reproduce: {env}graphad bench "
          + " ".join(argv if argv is not None else sys.argv[1:]))
    if args.json:
        table.to_json(args.json)
        print(f"JSON written to {args.json}")
    if args.plot:
        try:
            table.plot(args.plot)
            print(f"plot written to {args.plot}")
        except GraphadError as e:
            print(f"graphad bench: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

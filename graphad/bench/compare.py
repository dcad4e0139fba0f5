"""`compare`: time one gradient (or training run) across implementations.

For each implementation: prepare it (not timed), time its first call (build
the gradient function + call it: tracing and compiling happen here), and
check its result against the others. Only implementations that agree are
timed: a disagreeing one is reported as a mismatch, never timed silently. The
steady-state time is the median over interleaved rounds (A B C A B C ...),
each round timing a batch long enough to read the clock reliably. The first
call is also measured in fresh processes, with an empty and then a warm
compile cache (firstcall.py).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import GraphadError
from .impls import BUNDLED, BY_NAME, Task, Training, Unavailable
from .timing import samples as interleaved_samples

# Which implementation serves as the reference when several agree equally.
_PREFERENCE = ("numpy-hand", "eager", "compiled")


@dataclass
class Settings:
    rounds: int = 9                 # interleaved rounds (fewer if max_seconds would be exceeded)
    min_rounds: int = 3
    batch_seconds: float = 0.05     # each timed batch repeats the call for at least this long
    max_seconds: float = 30.0       # budget for the timed rounds of one task
    fresh_process: bool = True      # also time the first call in fresh processes (cold, warm)
    fresh_impls: tuple | None = None    # ... for these implementations only (None: all)
    rtol: float | None = None       # agreement tolerance; default by dtype (1e-6 f64, 2e-3 f32)
    time_mismatches: bool = False   # time disagreeing implementations too (marked "!")


# A smoke run: few short rounds; fresh processes only for graphad (peers import slowly).
QUICK = Settings(rounds=3, min_rounds=2, batch_seconds=0.005, max_seconds=1.0,
                 fresh_impls=("compiled", "eager"))


@dataclass
class Result:
    """One implementation on one task. status: ok | mismatch | skipped | error."""
    impl: str
    status: str
    message: str = ""
    median_s: float | None = None
    samples: list = field(default_factory=list)
    first_call_s: float | None = None       # in this process
    cold_s: float | None = None             # fresh process, empty compile cache
    warm_s: float | None = None             # fresh process, cache left by the cold run
    fresh_note: str = ""
    rel_err: float | None = None            # ||result - reference|| / ||reference||
    note: str = ""


@dataclass
class Row:
    name: str
    description: str
    kind: str                               # "gradient" or "training run (N steps)"
    reference: str | None
    results: dict


def resolve_impls(impls):
    """Implementation objects from names and/or objects (None: all bundled)."""
    if impls is None:
        return list(BUNDLED)
    out = []
    for impl in impls:
        if isinstance(impl, str):
            if impl not in BY_NAME:
                raise GraphadError(f"unknown implementation {impl!r}; "
                                   f"known: {', '.join(BY_NAME)}")
            impl = BY_NAME[impl]
        out.append(impl)
    return out


def compare(fun, *args, argnums=0, impls=None, name=None, description="", hand_grad=None,
            train: Training | None = None, settings: Settings | None = None, quick=False,
            ratio_of="compiled", progress=None):
    """Time the gradient of `fun(*args)` w.r.t. `argnums` in each implementation.

    impls: names ("compiled", "eager", "numpy-hand", "jax", "autograd", "torch") or
      objects with `name` and `prepare(task)` (see graphad.bench.impls); default all.
    hand_grad: a hand-written gradient with fun's signature (the "numpy-hand" column).
    train: time whole training runs (graphad.bench.Training) instead of one gradient.
    Returns a `Table`: print it, `.to_json(path)`, `.plot(path)`.
    """
    from .report import Table, machine_info
    settings = settings or (QUICK if quick else Settings())
    task = Task(fun, tuple(args), argnums, train, hand_grad,
                name or getattr(fun, "__name__", "f"))
    row = run_task(task, resolve_impls(impls), settings, progress, description)
    return Table([row], machine_info(), settings, ratio_of)


def run_task(task: Task, impls, settings: Settings, progress=None, description="") -> Row:
    say = progress or (lambda message: None)
    results, units, outputs = {}, {}, {}
    for impl in impls:
        say(f"{impl.name}: first call")
        result, unit, leaves = _first_call(impl, task)
        results[impl.name] = result
        if result.status == "ok":
            units[impl.name], outputs[impl.name] = unit, leaves
    reference = _check_agreement(results, outputs, settings.rtol)
    timed = {name: units[name] for name in units
             if results[name].status == "ok" or settings.time_mismatches}
    if timed:
        say("timing " + " ".join(timed))
        for name, samples in _interleaved(timed, settings).items():
            results[name].samples = samples
            results[name].median_s = statistics.median(samples)
    if settings.fresh_process:
        from .firstcall import fresh_process_first_calls
        chosen = [impl for impl in impls if impl.name in timed
                  and (settings.fresh_impls is None or impl.name in settings.fresh_impls)]
        say("first call in fresh processes")
        fresh = fresh_process_first_calls(task, chosen)
        for name, entry in fresh.items():
            results[name].cold_s = entry.get("cold")
            results[name].warm_s = entry.get("warm")
            results[name].fresh_note = entry.get("note", "")
    kind = "gradient" if task.train is None else f"training run ({task.train.steps} steps)"
    return Row(task.name, description, kind, reference, results)


def _first_call(impl, task):
    """(Result, timed unit, numpy leaves of its result) after the first call."""
    try:
        runner = impl.prepare(task)
    except Unavailable as e:
        return Result(impl.name, "skipped", str(e)), None, None
    except Exception as e:     # an implementation failing must not stop the comparison
        return Result(impl.name, "error", f"{type(e).__name__}: {e}"), None, None
    try:
        t0 = time.perf_counter()
        grad_fn = runner.build()
        out = runner.sync(grad_fn(*runner.args))
        first = time.perf_counter() - t0
        unit = runner.unit(grad_fn, task.train)
        value = unit() if task.train is not None else out
        leaves = runner.leaves(value)
    except Unavailable as e:
        return Result(impl.name, "skipped", str(e)), None, None
    except Exception as e:
        return Result(impl.name, "error", f"{type(e).__name__}: {e}"), None, None
    return Result(impl.name, "ok", first_call_s=first, note=runner.note), unit, leaves


def relative_error(leaves, reference) -> float:
    """Largest leafwise ||a - b|| / ||b|| (2-norms; inf when structures differ).

    Norm-wise rather than elementwise: on chaotic workloads (W4: 20 steps of the
    logistic map) rounding differences grow a million-fold in a few elements while
    the gradient as a whole agrees to 1e-8.
    """
    if len(leaves) != len(reference):
        return float("inf")
    worst = 0.0
    for a, b in zip(leaves, reference):
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            return float("inf")
        if a.size == 0 or np.array_equal(a, b, equal_nan=True):
            continue
        scale, err = float(np.linalg.norm(b)), float(np.linalg.norm(a - b))
        if not np.isfinite(err):
            return float("inf")
        worst = max(worst, err / scale if scale > 0 else err)
    return worst


def _tolerance(leaves, rtol):
    if rtol is not None:
        return rtol
    low = any(np.asarray(leaf).dtype.itemsize < 8 for leaf in leaves)
    return 2e-3 if low else 1e-6


def _check_agreement(results, outputs, rtol):
    """Pick the reference (the one most others agree with) and mark disagreeing results."""
    names = list(outputs)
    if not names:
        return None
    tol = _tolerance(next(iter(outputs.values())), rtol)
    agree = {a: sum(relative_error(outputs[b], outputs[a]) <= tol for b in names if b != a)
             for a in names}
    rank = {n: (_PREFERENCE.index(n) if n in _PREFERENCE else len(_PREFERENCE)) for n in names}
    reference = max(names, key=lambda n: (agree[n], -rank[n]))
    for name in names:
        err = relative_error(outputs[name], outputs[reference])
        results[name].rel_err = err
        if err > tol:
            results[name].status = "mismatch"
            results[name].message = (f"disagrees with {reference}: relative error {err:.3g} "
                                     f"> tolerance {tol:g}")
    return reference


def _interleaved(units, settings: Settings):
    """Per-call seconds for each unit, one sample per round, rounds interleaved."""
    return interleaved_samples(units, settings.rounds, settings.batch_seconds,
                               settings.max_seconds, settings.min_rounds)

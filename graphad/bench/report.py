"""The result of a comparison: a table that prints, exports JSON and plots."""
from __future__ import annotations

import dataclasses
import datetime
import json
import os
import platform
from importlib import metadata

from ..errors import GraphadError

_PACKAGES = ("graphad", "numpy", "numba", "jax", "jaxlib", "autograd", "torch", "matplotlib")


def machine_info() -> dict:
    """What the numbers were measured on."""
    info = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": _cpu_model(), "cores": os.cpu_count(),
            "python": platform.python_version(), "platform": platform.platform()}
    if hasattr(os, "sched_getaffinity"):
        info["usable cores"] = len(os.sched_getaffinity(0))
    memory = _memory()
    if memory:
        info["memory"] = memory
    versions = {}
    for package in _PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    info["versions"] = versions
    from ..backends import DEFAULT_BACKEND
    info["graphad default backend"] = DEFAULT_BACKEND
    # OPENBLAS_CORETYPE too: forcing older kernels (Haswell's on an AVX-512 machine)
    # made float32 matrix products 1.8x slower
    threads = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                          "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS",
                                          "OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_CORETYPE")
               if k in os.environ}
    if threads:
        info["thread settings"] = threads
    if hasattr(os, "getloadavg"):      # other work on the machine skews every column
        info["load average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory():
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        return f"{kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        return None


def format_seconds(s) -> str:
    if s is None:
        return "-"
    if s < 1e-3:
        return f"{s * 1e6:.3g} µs"
    if s < 1:
        return f"{s * 1e3:.3g} ms"
    return f"{s:.3g} s"


_STATUS_CELL = {"mismatch": "MISMATCH", "skipped": "-", "error": "error"}


def result_cell(r) -> str:
    """One result's steady-state cell: its median time, or why it has none ("!" marks a
    mismatch timed on request). The text table and benchmarks/perf_table.py share it."""
    if r is None:
        return ""
    if r.status == "mismatch" and r.median_s is not None:
        return format_seconds(r.median_s) + "!"
    return format_seconds(r.median_s) if r.status == "ok" else _STATUS_CELL[r.status]


class Table:
    """Rows of results (one per task); see `format` for the printed layout."""

    def __init__(self, rows, machine, settings, ratio_of="compiled", notes=()):
        self.rows = list(rows)
        self.machine = machine
        self.settings = settings
        self.ratio_of = ratio_of
        self.notes = list(notes)

    @property
    def impls(self):
        """Implementation names in column order, leaving out those skipped on every row
        (the notes say why)."""
        names = []
        for row in self.rows:
            names.extend(n for n in row.results if n not in names)
        return [n for n in names if any(n in row.results and row.results[n].status != "skipped"
                                        for row in self.rows)]

    def _all_impls(self):
        names = []
        for row in self.rows:
            names.extend(n for n in row.results if n not in names)
        return names

    def __getitem__(self, name):
        """The row of the task called `name`."""
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def ratio(self, row, numerator, denominator):
        a, b = row.results.get(numerator), row.results.get(denominator)
        if a is None or b is None or a.median_s is None or b.median_s is None:
            return None
        return a.median_s / b.median_s

    # ---- text -----------------------------------------------------------------------

    def format(self, ratio_of=None) -> str:
        ratio_of = ratio_of or self.ratio_of
        impls = self.impls
        width = max([8] + [len(r.name) for r in self.rows])
        rounds = self.settings.rounds
        lines = [f"Steady state: median time per call (per run for training rows) over up to "
                 f"{rounds} interleaved rounds; lower is better.", ""]
        lines += self._grid(["workload", *impls], width, [
            [row.name, *[result_cell(row.results.get(n)) for n in impls]] for row in self.rows])
        others = [n for n in impls if n != ratio_of]
        if ratio_of in impls and others:
            lines += ["", f"Ratios {ratio_of}/X (below 1: {ratio_of} is faster)", ""]
            lines += self._grid(["workload", *[f"{ratio_of}/{n}" for n in others]], width, [
                [row.name, *[_ratio_cell(self.ratio(row, ratio_of, n)) for n in others]]
                for row in self.rows])
        lines += ["", "First call (build the gradient function + trace + compile + run), "
                  "fresh process: cold / warm cache", ""]
        lines += self._grid(["workload", *impls], width, [
            [row.name, *[_first_cell(row.results.get(n)) for n in impls]] for row in self.rows])
        lines += ["", *self._notes()]
        return "\n".join(lines)

    __str__ = format

    def __repr__(self):
        return f"<graphad.bench.Table {len(self.rows)} rows, {len(self.impls)} implementations>"

    @staticmethod
    def _grid(header, first_width, rows):
        widths = [first_width] + [max(len(h), 9) for h in header[1:]]
        for row in rows:
            widths = [max(w, len(c)) for w, c in zip(widths, row)]
        fmt = lambda cells: "  ".join(  # noqa: E731
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
        return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]

    def _notes(self):
        notes = list(self.notes) + ["Implementations:"]
        from .impls import BY_NAME
        for name in self._all_impls():
            impl = BY_NAME.get(name)
            extra = sorted({r.results[name].note for r in self.rows
                            if name in r.results and r.results[name].note})
            desc = getattr(impl, "description", "") if impl is not None else ""
            notes.append(f"  {name}: {desc}" + (f" [{', '.join(extra)}]" if extra else ""))
        kinds = {row.name: row.kind for row in self.rows if row.kind != "gradient"}
        if kinds:
            notes.append("Training rows time a whole run: " + ", ".join(
                f"{name} = {kind}" for name, kind in kinds.items()))
        messages = {}
        for row in self.rows:
            for r in row.results.values():
                text = r.message if r.status != "ok" else ""
                if r.status == "ok" and r.fresh_note:
                    text = "first call in a fresh process not measured: " + r.fresh_note
                if text:
                    messages.setdefault((r.impl, r.status, text), []).append(row.name)
        if messages:
            notes.append("Not timed or partly measured:")
            all_rows = [row.name for row in self.rows]
            for (impl, status, text), rows in messages.items():
                where = "all tasks" if rows == all_rows and len(rows) > 1 else ", ".join(rows)
                label = status if status != "ok" else "note"
                notes.append(f"  {impl} on {where}: {label}: {text}")
        if any(r.status == "mismatch" and r.median_s is not None
               for row in self.rows for r in row.results.values()):
            notes.append("! timed although its result disagrees (time_mismatches / "
                         "--time-mismatches)")
        if any(_first_cell(r).endswith("*") for row in self.rows for r in row.results.values()):
            notes.append("* first call in this process, not in a fresh one")
        refs = sorted({row.reference for row in self.rows if row.reference})
        if refs:
            notes.append(f"Agreement checked against: {', '.join(refs)} (the implementation "
                         "most others agree with; the hand gradient when there is one)")
        m = self.machine
        notes.append(f"Machine: {m.get('cpu')}, {m.get('cores')} cores"
                     + (f" ({m['usable cores']} usable)" if "usable cores" in m else "")
                     + (f", {m['memory']}" if "memory" in m else "")
                     + f"; {m.get('platform')}; measured {m.get('date')}")
        notes.append("Versions: Python " + m.get("python", "?") + ", " + ", ".join(
            f"{k} {v}" for k, v in m.get("versions", {}).items()))
        notes.append(f"graphad default backend: {m.get('graphad default backend')}")
        if "thread settings" in m:
            notes.append(f"Thread settings: {m['thread settings']}")
        if "load average" in m:
            notes.append("Load average (1, 5, 15 min) when the table was made: "
                         + ", ".join(map(str, m["load average"])))
        return notes

    # ---- JSON -----------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {"machine": self.machine, "settings": dataclasses.asdict(self.settings),
                "ratio_of": self.ratio_of, "notes": self.notes,
                "rows": [{"name": row.name, "description": row.description, "kind": row.kind,
                          "reference": row.reference,
                          "results": {n: dataclasses.asdict(r) for n, r in row.results.items()}}
                         for row in self.rows]}

    def to_json(self, path=None) -> str:
        text = json.dumps(self.to_dict(), indent=2, default=_jsonable)
        if path is not None:
            with open(path, "w") as f:
                f.write(text + "\n")
        return text

    # ---- plot -----------------------------------------------------------------------

    def plot(self, path):
        """A PNG (or any format matplotlib infers from `path`) of the steady-state times."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            raise GraphadError("plotting needs matplotlib: pip install matplotlib "
                               "(or pip install 'graphad[plot]')") from None
        impls = self.impls
        fig, ax = plt.subplots(figsize=(10, 1.2 + 0.16 * len(self.rows) * max(len(impls), 1)))
        height = 0.8 / max(len(impls), 1)
        for j, name in enumerate(impls):
            bars = {"ok": ([], []), "mismatch": ([], [])}
            for i, row in enumerate(self.rows):
                r = row.results.get(name)
                if r is not None and r.median_s is not None:
                    bars[r.status][0].append(i + j * height)
                    bars[r.status][1].append(r.median_s)
            drawn = ax.barh(*bars["ok"], height=height, label=name)
            if bars["mismatch"][0]:     # timed on request although it disagrees: hatched
                ax.barh(*bars["mismatch"], height=height, hatch="//", edgecolor="black",
                        color=drawn.patches[0].get_facecolor() if drawn.patches else None)
        ax.set_yticks([i + 0.4 - height / 2 for i in range(len(self.rows))])
        ax.set_yticklabels([row.name for row in self.rows])
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("seconds per call (per run for training rows), log scale; lower is better")
        ax.set_title(f"graphad bench, {self.machine.get('date', '')[:10]}")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        return path


def _ratio_cell(value):
    return "-" if value is None else f"{value:.3g}x"


def _first_cell(r):
    if r is None:
        return ""
    if r.cold_s is not None or r.warm_s is not None:
        return f"{format_seconds(r.cold_s)} / {format_seconds(r.warm_s)}"
    if r.first_call_s is not None:
        return f"{format_seconds(r.first_call_s)}*"
    return _STATUS_CELL.get(r.status, "")


def _jsonable(x):
    if hasattr(x, "item"):
        return x.item()
    return str(x)

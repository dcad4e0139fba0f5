"""The compile cache: generated kernels in memory and on disk.

Numba's `cache=True` only works for functions defined in a real, importable
source file, so each generated kernel is written to
`<cache dir>/kernels/graphad_<digest>.py` and imported under that module name
(registered in `sys.modules` before it runs, which Numba's cache loader needs).
Numba then keeps the machine code in the `__pycache__` beside it, and a new
process compiling the same graph loads it instead of compiling.

- The cache directory is `$GRAPHAD_CACHE_DIR`, else `$XDG_CACHE_HOME/graphad`,
  else `~/.cache/graphad`.
- The digest covers the generated source (which embeds the fused graph, one
  equation a line, and the backend options) and the Python, numpy, numba and
  graphad versions.
- Files are written to a temporary name and renamed into place, so concurrent
  writers never leave a half-written file; the first line holds a checksum of
  the rest, so a truncated or edited file is detected and rewritten.

`clear()` deletes everything; `size()` and `report()` say what is there;
`stats()` counts kernels compiled by Numba vs loaded from its cache.

Before the first kernel, `_preload_blas` loads `scipy.linalg.cython_blas` by itself.
A process's first Numba compile or cache load imports it (numba.np.arraymath checks
that BLAS exists; BLAS calls look their functions up in it), and importing it the
usual way runs all of `scipy.linalg`: 0.13 s of CPU, 45% of a warm first call.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger("graphad")

_MEMORY: dict[str, object] = {}        # digest -> loaded kernel (a Numba dispatcher)
_LOADED: list = []                     # every kernel loaded in this process
_PREFIX = "# graphad kernel sha256="


def cache_dir() -> Path:
    env = os.environ.get("GRAPHAD_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "graphad"


def _kernel_dir() -> Path:
    return cache_dir() / "kernels"


def versions() -> str:
    import numba
    import numpy

    import graphad
    return (f"python={sys.version_info.major}.{sys.version_info.minor} numpy={numpy.__version__} "
            f"numba={numba.__version__} graphad={graphad.__version__}")


def _checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _file_text(source: str) -> str:
    body = f"# {versions()}\n{source}"
    return f"{_PREFIX}{_checksum(body)}\n{body}"


def _intact(path: Path) -> bool:
    """True when the file exists and its checksum line matches the rest."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    first, _, body = text.partition("\n")
    return first == _PREFIX + _checksum(body)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _numba_files(path: Path):
    pycache = path.parent / "__pycache__"
    return list(pycache.glob(path.stem + ".*")) if pycache.is_dir() else []


def _import(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module            # Numba's cache loader looks the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


_BLAS = "scipy.linalg.cython_blas"


class _LinalgHook:
    """Meta-path entry that lives until `scipy.linalg` itself is imported, then makes
    the preloaded module its attribute, as importing it after its package would have."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "scipy.linalg":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = _LinalgLoader(spec.loader.name, spec.loader.path)
        return spec


class _LinalgLoader(importlib.machinery.SourceFileLoader):
    def exec_module(self, module):
        if _LinalgHook in sys.meta_path:      # not while the import system walks the list
            sys.meta_path.remove(_LinalgHook)
        super().exec_module(module)
        if _BLAS in sys.modules:
            module.cython_blas = sys.modules[_BLAS]


def _preload_blas() -> None:
    """`scipy.linalg.cython_blas` in `sys.modules` without running `scipy.linalg`'s
    `__init__`: Numba's BLAS check and its calls into BLAS need only this module.
    Nothing happens when `scipy.linalg` is already imported or anything fails: Numba
    then imports it as usual. Called under _LOAD_LOCK, so one thread loads it."""
    if _BLAS not in sys.modules and "scipy.linalg" not in sys.modules:
        _load_blas_alone()


def _load_blas_alone() -> None:
    try:
        scipy = importlib.util.find_spec("scipy")
        paths = [os.path.join(folder, "linalg", "cython_blas" + suffix)
                 for folder in (scipy.submodule_search_locations if scipy else ())
                 for suffix in importlib.machinery.EXTENSION_SUFFIXES]
        path = next((p for p in paths if os.path.exists(p)), None)
        if path is None:
            return
        spec = importlib.util.spec_from_file_location(_BLAS, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)         # then publish: never seen half-made
        sys.modules[_BLAS] = module
        sys.meta_path.insert(0, _LinalgHook)
    except Exception as e:          # noqa: BLE001  (Numba's own import then reports it)
        log.debug("graphad cache: preloading %s failed (%s)", _BLAS, e)


_LOAD_LOCK = threading.Lock()   # a kernel module is in sys.modules before it has run


def load_kernel(source: str, entry: str = "kernel"):
    """The function `entry` of `source`, from memory, from disk, or written now."""
    text = _file_text(source)
    digest = _checksum(text)[:32]
    kernel = _MEMORY.get(digest)
    if kernel is not None:
        return kernel
    with _LOAD_LOCK:                # two threads' first calls of one kernel
        return _MEMORY.get(digest) or _load(text, digest, entry)


def _load(text, digest, entry):
    _preload_blas()
    name = f"graphad_{digest}"
    path = _kernel_dir() / f"{name}.py"
    if not _intact(path):
        if path.exists():
            log.warning("graphad cache: %s was damaged; rebuilding it", path)
            for f in _numba_files(path):
                f.unlink(missing_ok=True)
        _write_atomic(path, text)
    module = sys.modules.get(name)
    if module is None or getattr(module, "__file__", None) != str(path):
        module = _import(name, path)
    kernel = getattr(module, entry)
    kernel.graphad_path = path
    _MEMORY[digest] = kernel
    _LOADED.append(kernel)
    return kernel


def has_numba_cache(kernel) -> bool:
    return bool(_numba_files(kernel.graphad_path))


def reload_without_numba_cache(kernel):
    """`kernel` imported afresh after deleting Numba's cached machine code for it
    (which failed to load): the new dispatcher compiles."""
    for f in _numba_files(kernel.graphad_path):
        f.unlink(missing_ok=True)
    name = kernel.__module__
    sys.modules.pop(name, None)
    fresh = getattr(_import(name, kernel.graphad_path), kernel.__name__)
    fresh.graphad_path = kernel.graphad_path
    _MEMORY[name.removeprefix("graphad_")] = fresh
    _LOADED.append(fresh)
    return fresh


def stats() -> dict:
    """Kernels loaded in this process; Numba compilations vs loads from its disk cache."""
    hits = sum(sum(k.stats.cache_hits.values()) for k in _LOADED)
    misses = sum(sum(k.stats.cache_misses.values()) for k in _LOADED)
    return {"kernels": len(_LOADED), "numba_cache_hits": hits, "numba_compiles": misses}


def size() -> dict:
    """Files and bytes in the cache directory."""
    root = cache_dir()
    files = [p for p in root.rglob("*") if p.is_file()] if root.is_dir() else []
    return {"path": str(root), "kernels": len(list(root.glob("kernels/graphad_*.py"))),
            "files": len(files), "bytes": sum(p.stat().st_size for p in files)}


def report() -> str:
    s = size()
    return (f"graphad cache at {s['path']}: {s['kernels']} kernels, {s['files']} files, "
            f"{s['bytes'] / 1e6:.1f} MB")


def clear() -> None:
    """Delete the on-disk cache and forget the kernels loaded in memory."""
    _MEMORY.clear()
    shutil.rmtree(_kernel_dir(), ignore_errors=True)


# ---- signatures: the in-memory cache of one compiled function ---------------------
#
# A compiled function keeps one entry per signature. The key has one part per
# positional argument: ("static", type, value), or (pytree structure, leaf keys)
# where a leaf key is (shape, dtype). For the most recent signature it also keeps
# a *guard*: a small Python function generated for that signature that checks
# the arguments against it and calls the kernel, with no flattening loop, no key
# building and no dict lookups. A call that fails the guard takes the general path.

MISS = object()          # what a guard returns when the arguments do not match


def _paths(tree, prefix=""):
    """Paths of a TreeDef's leaves, in flattening order: ['W1'], [0][1], ..."""
    if tree.kind == "leaf":
        return [prefix]
    if tree.kind == "none":
        return []
    keys = tree.aux if tree.kind == "dict" else range(len(tree.children))
    return [p for k, c in zip(keys, tree.children) for p in _paths(c, f"{prefix}[{k!r}]")]


def _describe_leaf(key):
    if isinstance(key, tuple):
        return f"{key[1]}{list(key[0])}"
    return getattr(key, "__name__", str(key))


def explain_miss(old, new) -> str:
    """Why signature `new` differs from `old`, argument by argument, in user terms."""
    if len(old) != len(new):
        return f"called with {len(new)} arguments instead of {len(old)}"
    reasons = []
    for i, (a, b) in enumerate(zip(old, new)):
        if a == b:
            continue
        if a[0] == "static" or b[0] == "static":
            reasons.append(f"static argument {i} changed from {a[2]!r} to {b[2]!r}")
        elif a[0] != b[0]:
            reasons.append(f"argument {i} changed structure from {a[0]!r} to {b[0]!r}")
        else:
            for path, x, y in zip(_paths(a[0]), a[1], b[1]):
                if x == y:
                    continue
                what = ("shape" if isinstance(x, tuple) and isinstance(y, tuple) and x[1] == y[1]
                        else "dtype" if isinstance(x, tuple) and isinstance(y, tuple)
                        and x[0] == y[0] else "type")
                reasons.append(f"argument {i}{path} changed {what} from {_describe_leaf(x)} "
                               f"to {_describe_leaf(y)}")
    return "; ".join(reasons) or "the signature changed"


_SCALAR_TYPES = {"float64": (float, np.float64), "int64": (int, np.int64), "bool": (bool, np.bool_)}


def make_guard(key, run, extra, converters, out_index, out_tree):
    """A function `guard(args)` -> outputs, or MISS when `args` do not have signature `key`.

    `run(*leaves, *extra)` returns a tuple of results; output k of the function
    is result `out_index[k]`, passed through `converters[out_index[k]]` unless
    that is None; `out_tree` rebuilds the output pytree.
    """
    env = {"MISS": MISS, "ndarray": np.ndarray, "run": run}
    body, checks, leaves = [], [], []

    def const(value):
        name = f"c{len(env)}"
        env[name] = value
        return name

    def fresh():
        return f"a{len(leaves) + len(body)}"

    def walk(expr, tree, leaf_keys):
        kind = tree.kind
        if kind == "leaf":
            leaves.append(expr)
            shape, dtype = leaf_keys.pop(0)
            if shape == () and dtype.name in _SCALAR_TYPES:
                checks.append(f"type({expr}) in {const(frozenset(_SCALAR_TYPES[dtype.name]))}")
            elif shape == ():
                checks.append(f"type({expr}) is {const(dtype.type)}")
            else:
                checks.append(f"(type({expr}) is ndarray and {expr}.shape == {shape!r} "
                              f"and {expr}.dtype is {const(dtype)})")
        elif kind == "none":
            checks.append(f"{expr} is None")
        elif kind in ("tuple", "list"):         # unpacking checks the length too
            body.append(f"if type({expr}) is not {kind}: return MISS")
            names = [fresh() + f"_{k}" for k in range(len(tree.children))]
            body.append(f"({', '.join(names)},) = {expr}" if names else f"() = {expr}")
            for name, child in zip(names, tree.children):
                walk(name, child, leaf_keys)
        else:                                   # dict (sorted keys) or namedtuple
            t = dict if kind == "dict" else tree.aux
            body.append(f"if type({expr}) is not {const(t)} or len({expr}) != "
                        f"{len(tree.children)}: return MISS")
            keys = tree.aux if kind == "dict" else range(len(tree.children))
            for k, child in zip(keys, tree.children):
                name = fresh()
                body.append(f"{name} = {expr}[{k!r}]")
                walk(name, child, leaf_keys)

    names = [f"p{i}" for i in range(len(key))]
    body.append(f"({', '.join(names)},) = args" if names else "() = args")
    for name, part in zip(names, key):
        if part[0] == "static":
            checks.append(f"(type({name}) is {const(part[1])} and {name} == {const(part[2])})")
        else:
            walk(name, part[0], list(part[1]))
    lines = ["def guard(args):", "    try:"] + ["        " + b for b in body]
    lines += ["    except (KeyError, ValueError):", "        return MISS"]
    if checks:
        lines += ["    if not (" + "\n            and ".join(checks) + "):", "        return MISS"]
    extra_args = [f"*{const(tuple(extra))}"] if extra else []
    # TypeError: Numba has no machine code for these arrays' layout (a strided view where a
    # contiguous array was compiled for); the executable's own run compiles it.
    lines += ["    try:", f"        o = run({', '.join(leaves + extra_args)})",
              "    except TypeError:", "        return MISS"]
    results = {}
    for j in out_index:
        if j not in results:
            c = converters[j]
            results[j] = f"r{j}"
            value = f"{const(c)}(o[{j}])" if c is not None else f"o[{j}]"
            lines.append(f"    r{j} = {value}")
    lines.append(f"    return {_rebuild(out_tree, iter([results[j] for j in out_index]), const)}")
    exec("\n".join(lines), env)       # noqa: S102  (generated from the signature, not user text)
    guard = env["guard"]
    guard.source = "\n".join(lines)
    return guard


def _rebuild(tree, outs, const):
    kind = tree.kind
    if kind == "leaf":
        return next(outs)
    if kind == "none":
        return "None"
    parts = [_rebuild(c, outs, const) for c in tree.children]
    if kind == "tuple":
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if kind == "list":
        return "[" + ", ".join(parts) + "]"
    if kind == "dict":
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(tree.aux, parts)) + "}"
    return f"{const(tree.aux)}(" + ", ".join(parts) + ")"

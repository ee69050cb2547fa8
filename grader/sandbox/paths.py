"""What a sandboxed child needs from the host: its ``sys.path``, a private copy of its leaf
files, matplotlib's font cache template."""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_ROOT = _PACKAGE.parent.parent
# The child's leaf files: copied once per grader process into a private directory.
LEAF_FILES = {
    "_child.py": _ROOT / "grader" / "_child.py",
    "protocol.py": _PACKAGE / "protocol.py",
    "_child_cells.py": _ROOT / "grader" / "_child_cells.py",
    "_child_hardening.py": _ROOT / "grader" / "_child_hardening.py",
    "rollout.py": _ROOT / "solvers" / "rollout.py",
    "objectives.py": _ROOT / "solvers" / "objectives.py",
}
_INSIDE_LEAF = "/ravine/leaf"
_INSIDE_LIB = "/ravine/lib"
_INSIDE_MPL = "/ravine/mpl-template"

# --------------------------------------------------------------------------- paths the child needs


def _real(p: str) -> str:
    return os.path.realpath(p)


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


@lru_cache(maxsize=1)
def _site_dirs() -> tuple[str, ...]:
    dirs = []
    try:
        dirs += site.getsitepackages()
    except AttributeError:  # pragma: no cover
        pass
    user = getattr(site, "getusersitepackages", lambda: None)()
    if user:
        dirs.append(user)
    return tuple(dict.fromkeys(_real(d) for d in dirs))


@lru_cache(maxsize=1)
def _prefixes() -> tuple[str, ...]:
    return tuple(dict.fromkeys(_real(p) for p in (sys.base_prefix, sys.prefix, sys.exec_prefix)))


def _numpy_dir() -> str:
    import numpy

    return os.path.dirname(_real(numpy.__file__))


@lru_cache(maxsize=4)
def _package_files(dist_name: str) -> tuple[tuple[str, str], ...]:
    """(top-level name, real path) of every package/module of a distribution and its requirements."""
    from importlib.metadata import PackageNotFoundError, distribution

    seen: set[str] = set()
    out: dict[str, str] = {}

    def walk(name: str) -> None:
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            return
        seen.add(key)
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            return
        for f in dist.files or []:
            top = str(f).split("/", 1)[0]
            if top in ("..", "__pycache__") or top.endswith((".dist-info", ".egg-info", ".pth")):
                continue
            path = str(dist.locate_file(top))
            if os.path.exists(path):
                out.setdefault(top, _real(path))
        for req in dist.requires or []:
            if ";" in req and "extra" in req.split(";", 1)[1]:
                continue
            m = re.match(r"[A-Za-z0-9_.-]+", req)
            if m:
                walk(m.group(0))

    walk(dist_name)
    return tuple(sorted(out.items()))


@lru_cache(maxsize=1)
def _host_sys_path() -> tuple[str, ...]:
    """uid/process modes: the stdlib and site-packages directories of this interpreter.

    Never the current directory or a source checkout (where ``solvers/`` lives); the
    directories that hold numpy and matplotlib are added explicitly in case they come from
    elsewhere.  When ravine itself is pip-installed, its packages sit in site-packages next to
    numpy: the child's meta-path blocker refuses them.
    """
    import importlib.util

    roots = _prefixes()
    extra = [os.path.dirname(_numpy_dir())]
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        extra.append(os.path.dirname(os.path.dirname(spec.origin)))
    extra = [_real(p) for p in extra]
    candidates = [p for p in sys.path if p and os.path.isabs(p)] + list(_site_dirs()) + extra
    out: list[str] = []
    for p in candidates:
        real = _real(p)
        if real in out or not os.path.exists(real):
            continue
        allowed = any(_under(real, r) for r in roots) or real in extra or real in _site_dirs()
        checkout = real == str(_ROOT) and real not in _site_dirs()
        if allowed and not checkout:
            out.append(real)
    return tuple(out)


@lru_cache(maxsize=1)
def _stdlib_path() -> tuple[str, ...]:
    """namespaces mode: sys.path entries of the interpreter's prefix, without any site-packages."""
    out = []
    for p in sys.path:
        if not p or not os.path.isabs(p):
            continue
        real = _real(p)
        if any(_under(real, s) for s in _site_dirs()) or real == str(_ROOT):
            continue
        if any(_under(real, r) for r in _prefixes()) and real not in out:
            out.append(real)
    return tuple(out)


def child_sys_path(mode: str) -> list[str]:
    if mode == "namespaces":
        return [*_stdlib_path(), _INSIDE_LIB]
    return list(_host_sys_path())


# --------------------------------------------------------------------------- the leaf copy


_LEAF_LOCK = threading.Lock()
_LEAF_DIR: list[str] = []


def leaf_dir() -> str:
    """A private copy of the child's leaf files (created once per grader process, mode 0700 dir,
    files 0644: only the child's own root start -- or the sandbox's bind mount -- reaches them)."""
    with _LEAF_LOCK:
        if _LEAF_DIR and os.path.isdir(_LEAF_DIR[0]):
            return _LEAF_DIR[0]
        d = tempfile.mkdtemp(prefix="ravine-leaf-")
        _hold_owner_lock(d)  # before any sandbox names d (see bwrapproc.sweep_orphans)
        for name, src in LEAF_FILES.items():
            shutil.copyfile(src, os.path.join(d, name))
            os.chmod(os.path.join(d, name), 0o644)
        os.chmod(d, 0o755 if os.geteuid() != 0 else 0o700)
        _LEAF_DIR[:] = [d]
        atexit.register(shutil.rmtree, d, True)
        return d


_OWNER_FDS: list[int] = []


def owner_lock_path(leaf: str) -> str:
    """Beside a leaf copy: a file its grader process holds an exclusive flock on while it lives."""
    return leaf + ".owner"


def _hold_owner_lock(leaf: str) -> None:
    import fcntl

    path = owner_lock_path(leaf)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _OWNER_FDS.append(fd)  # held until this process ends, however it ends
    atexit.register(_remove, path)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# --------------------------------------------------------------------------- matplotlib font cache


_MPL_LOCK = threading.Lock()
_MPL_TEMPLATE: list[str | None] = []  # [] = not tried yet; [None] = unavailable


def matplotlib_template() -> str | None:
    """A matplotlib config dir with a ready font cache, built once by a trusted child.

    matplotlib scans the system fonts (~0.3 s here) the first time it is imported with an
    empty MPLCONFIGDIR.  The cache is built once per machine (``$XDG_CACHE_HOME/ravine`` or
    ``~/.cache/ravine``) by a process that runs no student code, and *copied* by each child
    into its own writable config dir, so a submission cannot poison it for the next one.
    Any failure just means matplotlib builds its cache itself.
    """
    with _MPL_LOCK:
        if _MPL_TEMPLATE:
            return _MPL_TEMPLATE[0]
        _MPL_TEMPLATE.append(None)
        try:
            from importlib.metadata import version

            key = f"{sys.version_info[0]}{sys.version_info[1]}-mpl{version('matplotlib')}"
            base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ravine"
            target = base / f"mplconfig-{key}"
            if not any(target.glob("fontlist-*.json")):
                base.mkdir(parents=True, exist_ok=True)
                tmp = tempfile.mkdtemp(prefix="mplconfig-build-", dir=base)
                code = f"import sys; sys.path[:] = {list(_host_sys_path())!r}; import matplotlib.font_manager"
                subprocess.run(
                    [sys.executable, "-I", "-S", "-B", "-c", code],
                    env={"PATH": "/usr/bin:/bin", "HOME": tmp, "MPLCONFIGDIR": tmp, "MPLBACKEND": "Agg"},
                    cwd=tmp, stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
                )
                if any(Path(tmp).glob("fontlist-*.json")):
                    try:
                        os.rename(tmp, target)
                    except OSError:  # another grader process won the race
                        shutil.rmtree(tmp, ignore_errors=True)
                else:
                    shutil.rmtree(tmp, ignore_errors=True)
            if any(target.glob("fontlist-*.json")):
                _MPL_TEMPLATE[0] = str(target)
        except Exception:  # noqa: BLE001 - an optimisation only
            pass
        return _MPL_TEMPLATE[0]


"""Ending a bubblewrap sandbox: nothing of it may outlive the grader's kill.

bwrap's first process in the sandbox calls setsid() before it asks for PR_SET_PDEATHSIG, so a
kill of bwrap's process group that lands in between left it (and its command) running: CI saw a
lone bwrap survive a batch.  ``grader.sandbox.bwrapproc`` holds a pidfd on that process and kills
it too.  The window is a few microseconds of real bwrap, so the first tests use a stand-in bwrap
that always escapes the group the same way; the last ones use the real bwrap.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.sandbox import bwrapproc
from grader.sandbox.bwrapproc import end_sandbox, start_sandbox
from sandbox_common import MODE, alive

# A stand-in for bwrap, in bwrap's order: "--info-fd N" first; it forks a child, reports the
# child's pid, then lets it run; the child leaves the process group (setsid, as bwrap's child
# does) and the stand-in waits for it (as bwrap's monitor does).  BEHAVIOUR: "report" (the normal case), "silent" (never reports: a stalled
# start), "fail" (exits before cloning, as bwrap does on a bad argument).
FAKE = textwrap.dedent("""\
    #!{python}
    import json, os, sys, time
    assert sys.argv[1] == "--info-fd"
    fd, behaviour = int(sys.argv[2]), sys.argv[3]
    if behaviour == "fail":
        sys.exit(1)
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # bwrap's child: waits for the parent's go (bwrap's child_wait_fd), then setsid
        os.close(fd)
        os.close(go_w)
        os.read(go_r, 1)
        os.setsid()
        time.sleep(300)
        os._exit(0)
    if behaviour == "report":  # bwrap reports the child, then lets it run
        os.write(fd, json.dumps({{"child-pid": pid}}).encode())
        os.close(fd)
        os.write(go_w, b"1")
    os.waitpid(pid, 0)
""")


@pytest.fixture
def fake_bwrap(tmp_path: Path) -> str:
    path = tmp_path / "bwrap"
    path.write_text(FAKE.format(python=sys.executable))
    path.chmod(0o755)
    return str(path)


def _wait_alive(pid: int, seconds: float = 10.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not alive(pid):
            return False
        time.sleep(0.05)
    return True


def _start(fake_bwrap: str, behaviour: str) -> bwrapproc.BwrapProcess:
    return start_sandbox([fake_bwrap, behaviour], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)


def test_a_process_that_left_bwraps_group_survives_a_group_kill(fake_bwrap):
    """The control: what the grader did before (kill bwrap's group, reap bwrap) leaves it alive."""
    proc = _start(fake_bwrap, "report")
    child = proc.init_pid
    assert isinstance(child, int) and child != proc.pid
    time.sleep(0.3)  # the stand-in's child is in its own session by now
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    try:
        assert _wait_alive(child, 1.0)  # still there a second later
    finally:
        os.kill(child, signal.SIGKILL)
        proc.init_fd and os.close(proc.init_fd)


def test_end_sandbox_kills_it_and_returns_once_it_is_gone(fake_bwrap):
    proc = _start(fake_bwrap, "report")
    child = proc.init_pid
    assert proc.init_fd is not None
    time.sleep(0.3)
    assert end_sandbox(proc) is True
    assert not alive(child)
    assert proc.init_fd is None and proc.returncode is not None


def test_a_bwrap_that_never_reports_is_a_failed_start_and_is_killed(fake_bwrap, monkeypatch):
    monkeypatch.setattr(bwrapproc, "INFO_TIMEOUT", 0.5)
    before = {p for p in os.listdir("/proc") if p.isdigit()}
    with pytest.raises(OSError, match="did not report its sandbox within"):
        _start(fake_bwrap, "silent")
    # The silent stand-in's child never got its go, so it was still in the group that was killed:
    # nothing started by the stand-in is still running.
    time.sleep(0.3)
    survivors = []
    for p in {p for p in os.listdir("/proc") if p.isdigit()} - before:
        try:
            cmd = Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:
            continue
        if fake_bwrap.encode() in cmd and alive(int(p)):
            survivors.append(p)
    for p in survivors:  # so a failure does not leave them behind
        os.kill(int(p), signal.SIGKILL)
    assert survivors == []


def test_a_bwrap_that_fails_at_once_gives_no_child_and_ends_cleanly(fake_bwrap):
    proc = _start(fake_bwrap, "fail")
    assert proc.init_pid is None and proc.init_fd is None
    assert end_sandbox(proc) is True
    assert proc.returncode == 1


needs_ns = pytest.mark.skipif(MODE != "namespaces", reason=f"isolation mode here is {MODE}: no bwrap sandbox to start")


def _pidns(pid: int) -> str | None:
    """The PID namespace of a live process (None for a zombie: it has only its exit status left)."""
    try:
        if not alive(pid):
            return None
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


@needs_ns
def test_a_real_sandbox_is_gone_with_everything_in_it_when_end_sandbox_returns():
    from grader.sandbox.model import Limits
    from grader.sandbox.process import _bwrap_argv, resolve

    argv = _bwrap_argv(resolve("namespaces").bwrap, Limits(), False, None)
    # the command starts three more processes that leave its session and ignore SIGHUP/SIGTERM
    code = ("import os, signal, time\n"
            "for _ in range(3):\n"
            "    if os.fork() == 0:\n"
            "        os.setsid(); signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)\n"
            "print('ready', flush=True); time.sleep(300)\n")
    proc = start_sandbox([*argv, sys.executable, "-I", "-S", "-c", code], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    init = proc.init_pid
    assert isinstance(init, int)
    ns = _pidns(init)
    assert ns is not None and ns != _pidns(os.getpid())
    inside = [p for p in os.listdir("/proc") if p.isdigit() and _pidns(int(p)) == ns]
    assert len(inside) == 5  # bwrap's init, the command, its three escapees
    assert end_sandbox(proc) is True
    proc.stdout.close()
    assert [p for p in os.listdir("/proc") if p.isdigit() and _pidns(int(p)) == ns] == []


@needs_ns
def test_the_info_fd_names_bwraps_child_and_leaves_no_descriptor_open():
    from grader.sandbox.model import Limits
    from grader.sandbox.process import _bwrap_argv, resolve

    argv = _bwrap_argv(resolve("namespaces").bwrap, Limits(), False, None)
    fds_before = sorted(os.listdir("/proc/self/fd"))
    proc = start_sandbox([*argv, sys.executable, "-I", "-S", "-c", "import time; time.sleep(300)"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        status = Path(f"/proc/{proc.init_pid}/status").read_text()
        assert f"\nPPid:\t{proc.pid}\n" in status  # bwrap's own child
        assert len(os.listdir("/proc/self/fd")) == len(fds_before) + 1  # the pidfd only
    finally:
        assert end_sandbox(proc) is True
    assert sorted(os.listdir("/proc/self/fd")) == fds_before


# --------------------------------------------------------------------------- RAVINE_BWRAP


def _check(env_value: str, *args: str) -> subprocess.CompletedProcess:
    from sandbox_common import ROOT

    env = dict(os.environ, RAVINE_BWRAP=env_value)
    return subprocess.run([sys.executable, "-m", "grader", "check", str(ROOT / "examples/submissions/alice_correct.py"),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("value, message", [
    ("none", "ravine check: --isolation namespaces is not available here: RAVINE_BWRAP=none"),
    ("/nonexistent/bwrap", "ravine check: --isolation namespaces is not available here: "
                           "RAVINE_BWRAP=/nonexistent/bwrap is not an executable file"),
])
def test_ravine_bwrap_that_cannot_give_namespaces_is_a_usage_error(value, message):
    done = _check(value, "--isolation", "namespaces")
    assert (done.returncode, done.stderr.strip(), done.stdout) == (2, message, "")


@pytest.mark.skipif(os.geteuid() != 0 or not sys.platform.startswith("linux"),
                    reason="auto falls back to uid mode only for a grader running as root on Linux")
def test_ravine_bwrap_none_makes_auto_choose_uid_mode_as_root():
    done = _check("none", "--json")
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert record["extra_data"]["isolation"] == {"mode": "uid", "bwrap_version": None}
    # the bundled correct example passes every public check in uid mode
    assert len(record["tests"]) >= 15 and all(t["score"] == t["max_score"] for t in record["tests"])
    assert record["score"] == sum(t["max_score"] for t in record["tests"])


# --------------------------------------------------------------------------- a killed grader's sandboxes


def _sandbox_with_leaf(leaf: str) -> bwrapproc.BwrapProcess:
    """A real sandbox whose command line names ``leaf`` as its leaf copy (as another grader's would)."""
    from grader.sandbox.model import Limits
    from grader.sandbox.paths import leaf_dir
    from grader.sandbox.process import _bwrap_argv, resolve

    argv = [leaf if a == leaf_dir() else a for a in _bwrap_argv(resolve("namespaces").bwrap, Limits(), False, None)]
    proc = start_sandbox([*argv, sys.executable, "-I", "-S", "-c", "import time; print('up', flush=True); time.sleep(300)"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stdout.readline() == b"up\n"
    return proc


def _leaf_copy(tmp_path: Path, name: str) -> str:
    from grader.sandbox.paths import leaf_dir

    import shutil

    leaf = tmp_path / name
    shutil.copytree(leaf_dir(), leaf)
    return str(leaf)


@needs_ns
def test_the_sandboxes_of_a_dead_grader_are_swept_and_a_live_graders_are_not(tmp_path):
    """A grader killed with SIGKILL cannot end its sandboxes.  sweep_orphans (run when a grader
    resolves namespaces mode) kills those whose leaf copy no live grader holds the owner lock of."""
    from grader.sandbox.paths import leaf_dir, owner_lock_path

    orphan_leaf = _leaf_copy(tmp_path, "ravine-leaf-dead")  # no owner lock: its grader is gone
    owned_leaf = _leaf_copy(tmp_path, "ravine-leaf-alive")
    holder = subprocess.Popen(  # another grader, alive: holds the owner lock of its leaf copy
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT); "
         "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); sys.stdin.read()", owner_lock_path(owned_leaf)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
    orphan, owned, ours = (_sandbox_with_leaf(orphan_leaf), _sandbox_with_leaf(owned_leaf),
                           _sandbox_with_leaf(leaf_dir()))  # ours: this process holds its lock
    try:
        killed = bwrapproc.sweep_orphans()
        assert orphan.init_pid in killed and orphan.pid in killed
        assert not {owned.pid, owned.init_pid, ours.pid, ours.init_pid} & set(killed)
        assert orphan.wait(timeout=10) != 0 and not _wait_alive(orphan.init_pid, 5.0)
        assert owned.poll() is None and ours.poll() is None and alive(owned.init_pid)
    finally:
        for proc in (orphan, owned, ours):
            end_sandbox(proc)
            proc.stdout.close()
        holder.stdin.close()
        holder.wait(timeout=30)

"""Starting, waiting for and stopping the local servers as OS processes."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from workers.devstack.errors import DevStackError

# Children started by this process, kept so they can be polled and reaped (and so Python does
# not warn that a still-running Popen was garbage-collected).
_children: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tied(argv: Sequence[str]) -> list[str]:
    """`argv`, run so that the kernel kills it when the process that starts it dies, however
    it dies (SIGTERM, SIGKILL, a crash): util-linux's `setpriv --pdeathsig KILL` sets the
    parent-death signal and execs it (the signal survives the exec)."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise DevStackError("setpriv not found: install util-linux (apt-get install util-linux)")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


def spawn(
    argv: Sequence[str],
    log_file: Path,
    cwd: Path,
    env: dict[str, str] | None = None,
    *,
    detached: bool = False,
) -> int:
    """Start a server in its own process group; return its pid. It dies with this process
    unless `detached` (`dev up`, whose servers outlive the command)."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(argv) if detached else tied(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    _children[proc.pid] = proc
    return proc.pid


def alive(pid: int) -> bool:
    child = _children.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _children[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop(pid: int, timeout: float = 20.0) -> None:
    """SIGTERM the process group, wait, then SIGKILL what is left."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return
        time.sleep(0.1)
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def kill(pid: int) -> None:
    """SIGKILL at once (fault-injection in tests)."""
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_until(
    ready: Callable[[], bool], *, timeout: float, what: str, pid: int, log_file: Path
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            raise DevStackError(f"{what} exited during start-up; see {log_file}:\n{tail(log_file)}")
        if ready():
            return
        time.sleep(0.2)
    raise DevStackError(f"{what} not ready after {timeout:.0f}s; see {log_file}:\n{tail(log_file)}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"

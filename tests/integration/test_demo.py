"""The main job as a newcomer meets it (issue 9): `dealstream demo` in a pseudo-terminal shows
every capability working on simulated traffic, Ctrl-C stops it, and nothing is left running."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import sys
import termios
import time
from pathlib import Path

import pytest

RUN_FOR = 50.0  # seconds of traffic once the view is up


def _read(fd: int, timeout: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # the child closed the terminal
        return b""


def _left_running(workdir: Path) -> list[str]:
    """Processes whose command line or environment mentions the demo's folder."""
    found = []
    needle = str(workdir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            found.append(cmdline.replace(b"\0", b" ").decode(errors="replace")[:200])
    return found


def test_demo_shows_everything_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of 160 columns, like a newcomer's
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        os.execv(sys.executable, [sys.executable, "-m", "workers.cli.main", "demo",
                                  "--dir", str(workdir), "--rate", "40"])  # fmt: skip
    out = b""
    try:
        deadline = time.monotonic() + 180
        view_since = None
        while time.monotonic() < deadline:
            out += _read(fd, 0.5)
            if view_since is None and b"Ctrl-C stops everything" in out:
                view_since = time.monotonic()
            if view_since is not None and time.monotonic() - view_since > RUN_FOR:
                break
        assert view_since is not None, out[-3000:].decode(errors="replace")
        os.write(fd, b"\x03")  # Ctrl-C, through the terminal
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            chunk = _read(fd, 0.5)
            out += chunk
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        else:
            pytest.fail("the demo did not stop within 90 s of Ctrl-C")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.decode(errors="replace"))
    for name in ("latest trigger firings", "top sales-ready leads", "assignments per rep",
                 "pipeline", "automation and notifications", "dead letters by reason",
                 "Prometheus: http://127.0.0.1:"):  # fmt: skip
        assert name in text, name
    counts = dict(re.findall(r"^([a-z ]+): ([0-9.]+)\s*$", text, re.M))
    for line in ("trigger firings", "score changes", "assignments", "owner changes",
                 "stage moves", "rep notifications", "dead letters", "pipeline open deals",
                 "pipeline open value"):  # fmt: skip
        assert float(counts.get(line, 0)) > 0, (line, text[-2500:])
    assert "demo stopped; nothing left running." in text  # and true at once:
    assert _left_running(workdir) == []

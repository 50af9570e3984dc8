"""The main job as a newcomer meets it (issues 9 and 17): `dealstream demo` in a pseudo-terminal
shows every capability working on simulated traffic, and tells the truth: the rate it shows is
the worker's counter, the team drains its queues, a score record means a change worth
publishing, its last view fits 80×24, 100×40 and 160×50 without cutting an id; Ctrl-C stops it
and nothing is left running."""

from __future__ import annotations

import datetime as dt
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
import urllib.request
from pathlib import Path

import orjson
import pytest

from tests.view_check import assert_fits_whole, feed_ids, screen
from workers.demo.feed import Feed
from workers.demo.samples import Samples, parse_metrics, total

WORDS = {"rep", "lead", "demo", "per", "stage", "contact", "meeting", "proposal", "closing"}
RUN_FOR = 50.0  # seconds of traffic once the view is up
RATE_AT = 25.0  # seconds into the view: the shown rate is compared with the counter then
MAX_QUEUED = 30  # leads waiting on a weekday afternoon (the morning released the night's),
QUEUED_PER_TAKEN = 1 / 3  # or, in a busy week, this share of the leads reps were given
MAX_SCORES_PER_EVENT = 2.0  # score records per input event sent (it was 3.3 in issue 17)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return parse_metrics(resp.read().decode())


def _working_afternoon(out: bytes) -> bool:
    """Whether the simulated time last shown is a weekday afternoon: leads that arrive at night
    or at the weekend wait for the reps' working hours, so the queue is judged after a
    morning's release."""
    text = ANSI.sub("", out[-20000:].decode(errors="replace"))
    found = re.findall(r"simulated (\w{3} \d{2} \w{3} \d{4} \d{2}:\d{2})", text)
    if not found:
        return False
    at = dt.datetime.strptime(found[-1], "%a %d %b %Y %H:%M")
    return at.weekday() < 5 and 12 <= at.hour < 18


def _shown_rate(out: bytes) -> float | None:
    found = re.findall(r"processed ([0-9,]+)/s", ANSI.sub("", out.decode(errors="replace")))
    return float(found[-1].replace(",", "")) if found else None


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


@pytest.mark.timeout(300)  # its own deadlines: 180 s to a weekday afternoon, 90 s to stop
def test_demo_shows_everything_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of 160 columns, like a newcomer's
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        # pytest sets COLUMNS=80 and LINES=24, which rich prefers to the terminal's size
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
        os.execve(sys.executable, [sys.executable, "-m", "workers.cli.main", "demo",
                                   "--dir", str(workdir), "--rate", "40"], env)  # fmt: skip
    out = b""
    try:
        deadline = time.monotonic() + 180
        view_since, url, queued = None, "", -1.0
        rate_window: list[tuple[float, float]] = []  # (time, counter) of the test's own scrapes
        shown: tuple[float, float] | None = None  # (rate shown, counter rate) at the same time
        while time.monotonic() < deadline:
            out += _read(fd, 0.5)
            if view_since is None and b"Ctrl-C stops everything" in out:
                view_since = time.monotonic()
                url = re.findall(rb"(http://127.0.0.1:[0-9]+/metrics)", out)[0].decode()
            if view_since is None:
                continue
            since = time.monotonic() - view_since
            if (
                since > RATE_AT
                and len(rate_window) < 2
                and (not rate_window or time.monotonic() - rate_window[0][0] >= 10.0)
            ):
                valid = total(_scrape(url), "dealstream_events_valid_total")
                rate_window.append((time.monotonic(), valid))
                if len(rate_window) == 2:
                    (t0, v0), (t1, v1) = rate_window
                    mark, until = len(out), time.monotonic() + 5
                    while _shown_rate(out[mark:]) is None and time.monotonic() < until:
                        out += _read(fd, 0.5)  # the next frame drawn
                    shown = (_shown_rate(out[mark:]) or 0.0, (v1 - v0) / (t1 - t0))
            if since > RUN_FOR and _working_afternoon(out):
                queued = total(_scrape(url), "dealstream_lead_queue_depth")
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
            os.kill(pid, signal.SIGUSR1)  # its threads' stacks, on its terminal
            out += _read(fd, 2.0) + _read(fd, 1.0)
            tail = ANSI.sub("", out[-6000:].decode(errors="replace"))
            pytest.fail(f"the demo did not stop within 90 s of Ctrl-C; its terminal:\n{tail}")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(fd)
    text = ANSI.sub("", out.decode(errors="replace"))
    (tmp_path / "terminal.txt").write_text(text)  # what the newcomer saw, for a failure
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

    # the rate shown is the worker's own counter over the same ten seconds, within 20 %
    assert shown is not None
    assert abs(shown[0] - shown[1]) <= 0.2 * shown[1], shown
    # the simulated team works its leads: few wait, or few against those it took on
    taken = float(counts["assignments assigned"]) + float(counts["assignments released"])
    assert queued <= max(MAX_QUEUED, QUEUED_PER_TAKEN * taken), (queued, taken)
    sent = max(int(n.replace(",", "")) for n in re.findall(r"sent ([0-9,]+) events", text))
    assert float(counts["score changes"]) / sent <= MAX_SCORES_PER_EVENT, (counts, sent)
    log = (workdir / "worker.log").read_text(errors="replace")
    assert "producer buffer full" not in log  # issue 17: 206 of them in 3 minutes before
    last = Feed.from_snapshot(orjson.loads((workdir / "last-view.json").read_bytes()))
    for width, height in ((80, 24), (100, 40), (160, 50)):
        assert_fits_whole(screen(last, width, height), width, height, feed_ids(last), WORDS)

"""The memory allocator of a backtest's replay processes.

By the middle of a month a replay holds a few GB of small Python objects (each contact's
scoring state and ledger, each opportunity, the dedupe windows), and each event reads a dozen
of them at random. Python's own allocator takes its memory in 1 MiB arenas, which the kernel
backs with 4 KiB pages: an object read is then often a miss of the processor's address
translation as well as of its caches. jemalloc, asked for transparent huge pages, backs the
heap with 2 MiB pages (measured in benchmarks/RESULTS.md: about 12% less time an event over the
first million events of the full month).

The replay's processes (workers/backtest/parallel.py) are started with the environment
`environment` gives: `PYTHONMALLOC=malloc`, so that every object goes through the C
allocator, and that allocator preloaded and told to use huge pages. The command's own process
keeps its allocator (an allocator is chosen when a process starts).
"""

from __future__ import annotations

import ctypes.util
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from workers.backtest.errors import BacktestError
from workers.settings.settings import ALLOCATORS as CHOICES

SETTING = "DEALSTREAM_BACKTEST_ALLOCATOR"
THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
PACKAGES = {"jemalloc": "libjemalloc2", "mimalloc": "libmimalloc2.0"}  # Debian's
# the user's own choice of allocator, which `auto` leaves alone
OWN = ("PYTHONMALLOC", "LD_PRELOAD")


@dataclass(frozen=True)
class Host:
    """What this machine offers: allocator libraries found (name -> library to preload), and
    the transparent huge pages mode ("always", "madvise", "never"; "" when unknown, as off
    Linux)."""

    libraries: Mapping[str, str]
    huge_pages: str


def probe() -> Host:
    libraries = {}
    for name in ("jemalloc", "mimalloc"):
        found = ctypes.util.find_library(name)
        if found:
            libraries[name] = found
    return Host(libraries, _huge_pages())


def _huge_pages() -> str:
    try:
        text = THP.read_text()
    except OSError:
        return ""
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else ""


def environment(choice: str, environ: Mapping[str, str], host: Host) -> dict[str, str]:
    """The variables a replay process starts with, over `environ` (empty: this process's
    allocator). `auto`: jemalloc with huge pages when found, else mimalloc with huge pages,
    else Python's; Python's as well where huge pages are off, or where the user chose an
    allocator already (`PYTHONMALLOC`, `LD_PRELOAD`). A named one this machine lacks is an
    error. (glibc's malloc with its `glibc.malloc.hugetlb` tunable was measured as well: no
    steadier than Python's, so it is not offered.)"""
    if choice == "python":
        return {}
    if choice == "auto":
        if host.huge_pages not in ("always", "madvise") or any(environ.get(v) for v in OWN):
            return {}
        for name in ("jemalloc", "mimalloc"):
            if name in host.libraries:
                return _variables(name, environ, host)
        return {}
    if choice not in PACKAGES:
        raise BacktestError(f"{SETTING}={choice!r}: expected one of {', '.join(CHOICES)}")
    if choice not in host.libraries:
        raise BacktestError(
            f"{SETTING}={choice}: lib{choice} not found (Debian and Ubuntu: apt-get install "
            f"{PACKAGES[choice]}), or set it to auto or python"
        )
    return _variables(choice, environ, host)


def _variables(name: str, environ: Mapping[str, str], host: Host) -> dict[str, str]:
    out = {
        "PYTHONMALLOC": "malloc",
        "LD_PRELOAD": _joined(host.libraries[name], environ.get("LD_PRELOAD"), ":"),
    }
    if name == "jemalloc":  # the user's own options come after ours: theirs win
        conf = _joined("thp:always,metadata_thp:always", environ.get("MALLOC_CONF"), ",")
        out["MALLOC_CONF"] = conf
    else:  # both names: mimalloc 2.0 reads the first, later versions the second
        out["MIMALLOC_LARGE_OS_PAGES"] = out["MIMALLOC_ALLOW_LARGE_OS_PAGES"] = "1"
    return out


def _joined(ours: str, theirs: str | None, separator: str) -> str:
    return f"{ours}{separator}{theirs}" if theirs else ours


@contextmanager
def applied(variables: Mapping[str, str]) -> Iterator[None]:
    """`variables` in this process's environment while processes are started (a process
    started inherits it), then the environment as it was."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

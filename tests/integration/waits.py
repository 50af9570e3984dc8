"""Waiting on facts, not time: poll a check until it holds or a deadline passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    check: Callable[[], T], what: str, *, timeout: float = 30.0, every: float = 0.2
) -> T:
    """The first truthy value of `check()`; fails naming `what` (and the last value) when
    `timeout` s pass without one."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s (last {value!r})"
        time.sleep(every)

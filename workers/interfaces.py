"""Every I/O seam of the domain core, in one place. Test doubles live in tests/doubles.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """What time it is. Injected so tests and the demo can run days in seconds."""

    def now(self) -> dt.datetime:
        """An aware UTC datetime."""
        ...


class OutputSink(Protocol):
    """Where agents emit records. Delivery is confirmed before the causing offset commits."""

    def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[object]: ...

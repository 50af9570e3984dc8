"""Test doubles for the I/O seams in workers/interfaces.py. For unit tests only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass
class FixedClock:
    """A clock that only moves when told to."""

    current: dt.datetime = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> dt.datetime:
        self.current += dt.timedelta(**delta)
        return self.current


@dataclass
class RecordingSink:
    """Keeps what was sent, in order."""

    sent: list[tuple[str, bytes | None, bytes]] = field(default_factory=list)

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.sent.append((topic, key, value))

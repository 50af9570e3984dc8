"""dealstream's native core (Rust): see workers/native/src/lib.rs."""

from collections.abc import Callable, Sequence
from typing import Any

MAX_LEDGER: int

EntryTuple = tuple[str, int, float, str]

class Ledger:
    """A contact's engagement ledger and its decay sums (immutable)."""

    def __init__(
        self,
        entries: Sequence[Sequence[Any]] | None = None,
        sums: Sequence[Any] | None = None,
    ) -> None:
        """From the tables' form: entries [rule, hundredths, epoch seconds, event id] oldest
        first, and the decay sums [period, anchor, size, {rule id: sum}] kept with them."""
    def entries(self) -> list[EntryTuple]: ...
    def sums(self) -> list[Any] | None: ...
    def table_form(self) -> dict[str, Any]: ...
    def last_event(self) -> str | None: ...
    def __len__(self) -> int: ...

class SeenWindow:
    """An entity key's recent event ids with the offset each arrived at, oldest first
    (immutable)."""

    def __init__(self, stored: dict[str, int] | None = None) -> None:
        """Empty, or from the tables' form: {event id: offset}, oldest first."""
    def remember(self, event_id: str, offset: int, window: int) -> tuple[int, SeenWindow]:
        """(0 new, 1 replay, 2 duplicate; the window after it)."""
    def get(self, event_id: str) -> int | None: ...
    def table_form(self) -> dict[str, int]: ...
    def __len__(self) -> int: ...

class DueIndex:
    """Which keys of one partition are due next (workers/triggers/due_index.py)."""

    def __init__(self) -> None: ...
    def set(self, key: str, due: float | None) -> None:
        """Schedule `key` at `due`; None, or a time that is not finite, unschedules it."""
    def due_at(self, key: str) -> float | None: ...
    def pop_due(self, now: float, limit: int | None = None) -> list[str]:
        """Remove and return the keys due at `now`, earliest first (ties by key)."""
    def next_due(self) -> float | None: ...
    def __len__(self) -> int: ...

class EngagementCore:
    """The engagement rules' arithmetic over ledgers."""

    def __init__(
        self,
        rules: list[tuple[str, str, int, str | None, str | None, str | None, int | None, float]],
        decay: str,
        period: float,
        max_cents: int | None,
    ) -> None: ...
    def record(
        self,
        ledger: Ledger,
        event_id: str,
        kind: str,
        at: float,
        source: str | None = None,
        form: str | None = None,
        product_line: str | None = None,
    ) -> Ledger: ...
    def contributions(self, ledger: Ledger, now: float) -> tuple[list[tuple[str, int]], int]: ...
    def prune(self, ledger: Ledger, now: float) -> Ledger: ...
    def decay_total(self, ledger: Ledger, now: float) -> tuple[float, int, float] | None: ...
    def next_change(self, ledger: Ledger, now: float, interval: float) -> float | None: ...

class ScoreCore:
    """A contact's re-score in one call: its score, stars, grade and sales-ready, whether it is
    worth publishing, the pruned ledger, and when decay may next change what is published."""

    def __init__(
        self,
        engagement: EngagementCore,
        bands: list[int] | None,
        ideal_cents: int,
        grades: list[tuple[int, str]],
        threshold: int,
        hysteresis: int,
        resolution: int,
        interval: float,
    ) -> None: ...
    def rescore(
        self,
        ledger: Ledger,
        fit: int,
        was_ready: bool,
        last: tuple[int, int, bool, str | None] | None,
        now: float,
        deleted: bool,
    ) -> tuple[
        list[tuple[str, int]] | None, int, int, int, str | None, bool, bool, Ledger, float | None
    ]: ...
    def engage(
        self,
        state: Any,
        fit: list[tuple[str, int]],
        fit_cents: int,
        now: float,
        event_id: str,
        kind: str,
        at: float,
        source: str | None,
        product_line: str | None,
        makers: tuple[type, type, str, Callable[[str], str]],
    ) -> Any:
        """An engagement applied to a contact's state and the contact re-scored, in one call:
        the `Rescore` that `Scorer.rescore(state, now, event_id, engaged)` gives (None when the
        last published score is of another rules version)."""

def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of `data`, unsigned 32-bit (workers/ingest/partitioning.py)."""

def expected_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives `key` among `partitions` (>= 1)."""

def rfc3339(text: str) -> bool:
    """Whether `text` matches workers/ingest/times.py `RFC3339` (False when not UTF-8)."""

"""dealstream's native core (Rust): see workers/native/src/lib.rs."""

from collections.abc import Sequence
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

"""What the engine raises."""

from __future__ import annotations


class EngineError(Exception):
    """Base of the engine's errors."""


class PartitionMoved(EngineError):
    """A partition of the batch is no longer this worker's: the batch is abandoned, nothing of
    it is acknowledged, and the new owner processes its inputs again from the committed offset."""


class UnknownTable(EngineError):
    """A feature used a table the engine does not own."""

    def __init__(self, table: str, known: list[str]) -> None:
        super().__init__(f"table {table!r} is not one of this engine's tables: {sorted(known)}")

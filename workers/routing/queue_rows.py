"""A product line's queue as rows of the router's table, each of at most `ROW` lead keys.

One row held a whole queue: with tens of thousands of leads waiting in a line (1 MB is about
55,000 keys of 16 characters), its changelog record would pass the size a Kafka record may have
by default, be refused, and the router's batch be retried for ever. The first row keeps the
name a whole queue had (`queue:<line>`), so a table written before is read as it was; the next
are `queue+<n>:<line>` (a line's name may hold any character: the number comes before it).

A row of a `Queue` is a `QueueRow`: the queue and the row's bounds, made a list only when a
table encodes it (`table_form`, at the commit). A queue is immutable, so the row is the same
then; a backtest's tables keep what is put and encode nothing, and copying the rows of a
queue of thousands at each lead it lost was 1% of a month's replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from workers.routing.queue import Queue

ROW = 4096  # lead keys per row: about 100 kB of JSON, far below a record's limit
PREFIX = "queue"


class QueueRow:
    """Keys `start` to `stop` of a queue, as a table row (JSON: the list of them)."""

    __slots__ = ("_queue", "_start", "_stop")

    def __init__(self, queue: Queue, start: int, stop: int) -> None:
        self._queue, self._start, self._stop = queue, start, min(stop, len(queue))

    def table_form(self) -> list[str]:
        return self._queue[self._start : self._stop]

    def __len__(self) -> int:
        return max(0, self._stop - self._start)

    def __iter__(self) -> Iterator[str]:
        return islice(self._queue, self._start, self._stop)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, QueueRow):
            return self.table_form() == other.table_form()
        return isinstance(other, list) and self.table_form() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"QueueRow({self.table_form()!r})"


def row_key(line: str, n: int) -> str:
    return f"{PREFIX}:{line}" if n == 0 else f"{PREFIX}+{n}:{line}"


def is_queue_row(key: str) -> bool:
    return key.startswith((f"{PREFIX}:", f"{PREFIX}+"))


def rows_of(
    line: str, queue: Sequence[str], rows_before: int, kept: int = 0
) -> tuple[dict[str, Any], int]:
    """The rows to write for `line`'s queue (None deletes a row the queue no longer fills),
    given how many rows it had, and how many it has now. `kept`: how many first keys the
    queue the table holds has in common with this one (rows of those alone are not written
    again: a lead queued at the end rewrites the last row, not the whole queue)."""
    rows = max(1, -(-len(queue) // ROW))
    first = kept // ROW
    if isinstance(queue, Queue):  # immutable: each row is made a list when it is encoded
        out: dict[str, Any] = {
            row_key(line, n): QueueRow(queue, n * ROW, (n + 1) * ROW) for n in range(first, rows)
        }
    else:
        out = {row_key(line, n): list(queue[n * ROW : (n + 1) * ROW]) for n in range(first, rows)}
    for n in range(rows, rows_before):
        out[row_key(line, n)] = None
    return out, rows


def read_rows(rows: Iterable[tuple[str, Any]]) -> tuple[dict[str, list[str]], dict[str, int]]:
    """The queues held by `rows` (the table's queue rows, in any order), and the rows each
    line has."""
    parts: dict[str, dict[int, list[str]]] = {}
    for key, value in rows:
        head, _, line = key.partition(":")
        n = 0 if head == PREFIX else int(head[len(PREFIX) + 1 :])
        parts.setdefault(line, {})[n] = [str(k) for k in value or []]
    queues = {line: [k for n in sorted(got) for k in got[n]] for line, got in parts.items()}
    return queues, {line: max(got) + 1 for line, got in parts.items()}

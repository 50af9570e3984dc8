"""A product line's queue as rows of the router's table, each of at most `ROW` lead keys.

One row held a whole queue: with tens of thousands of leads waiting in a line (1 MB is about
55,000 keys of 16 characters), its changelog record would pass the size a Kafka record may have
by default, be refused, and the router's batch be retried for ever. The first row keeps the
name a whole queue had (`queue:<line>`), so a table written before is read as it was; the next
are `queue+<n>:<line>` (a line's name may hold any character: the number comes before it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

ROW = 4096  # lead keys per row: about 100 kB of JSON, far below a record's limit
PREFIX = "queue"


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
    out: dict[str, Any] = {
        row_key(line, n): queue[n * ROW : (n + 1) * ROW] for n in range(kept // ROW, rows)
    }
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

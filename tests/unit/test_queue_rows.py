"""A product line's queue is kept in table rows of bounded size (workers/routing/queue_rows.py),
read back whole, in order, after a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.in_process import InProcessWorker
from workers.engine import table_form
from workers.routing import queue_rows
from workers.routing.queue import Queue
from workers.routing.queue_rows import is_queue_row, read_rows, row_key, rows_of

LINES = st.sampled_from(["erp", "crm", "a:b", "queue+1:x", "#"])
QUEUES = st.lists(st.text("abc", min_size=1, max_size=4), max_size=40, unique=True)


@given(st.lists(st.tuples(LINES, QUEUES), max_size=12), st.integers(1, 7), st.booleans())
def test_rows_written_read_back_as_the_queues(
    changes: list[tuple[str, list[str]]], size: int, as_queues: bool
) -> None:
    """Whatever the changes, the table's rows (as written, deletions applied) hold each line's
    last queue, in order, in rows of at most `size` keys; a `Queue`'s rows are made lists when
    a table encodes them, and read back the same either way."""
    table: dict[str, Any] = {}
    counts: dict[str, int] = {}
    last: dict[str, list[str]] = {}
    saved = queue_rows.ROW
    queue_rows.ROW = size
    try:
        for line, queue in changes:
            given_queue = Queue(queue) if as_queues else queue
            rows, counts[line] = rows_of(line, given_queue, counts.get(line, 1))
            for key, value in rows.items():
                if value is None:
                    table.pop(key, None)
                else:
                    table[key] = value
            last[line] = queue
    finally:
        queue_rows.ROW = saved
    assert all(is_queue_row(key) and len(value) <= size for key, value in table.items())
    queues, rows_read = read_rows(table.items())
    assert queues == last
    assert rows_read == counts
    stored = {key: msgspec.json.decode(table_form.encode(value)) for key, value in table.items()}
    assert read_rows(stored.items()) == (queues, rows_read)
    assert stored == table


def test_a_queue_written_whole_by_an_earlier_build_is_read_as_it_was() -> None:
    queues, rows = read_rows([("queue:erp", ["c1:erp", "c2:erp"]), ("queue:crm", [])])
    assert queues == {"erp": ["c1:erp", "c2:erp"], "crm": []}
    assert rows == {"erp": 1, "crm": 1}
    assert row_key("erp", 0) == "queue:erp"  # its row is the first row now


RULES = """
version: queue-rows
scoring:
  engagement:
    rules: [{id: demo, kind: demo_request, points: 25}]
  sales_ready: {threshold: 20}
routing:
  default: {policy: round_robin, sla: 4h}
"""


def engage(w: InProcessWorker, contact: str) -> None:
    w.send("crm.engagements", contact, event_id=f"e-{contact}", type="engagement.recorded",
           contact_id=contact, kind="demo_request")  # fmt: skip


def queue_table(w: InProcessWorker) -> dict[str, list[str]]:
    return {k: v for k, v in w.table("router").items() if is_queue_row(k)}


def test_a_long_queue_survives_a_restart_from_its_changelog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue_rows, "ROW", 3)
    w = InProcessWorker(RULES, tmp_path)
    contacts = [f"c{n:02d}" for n in range(10)]
    for contact in contacts:  # no rep: every lead waits
        engage(w, contact)
    w.run()
    rows = queue_table(w)
    assert len(rows) == 4
    assert all(len(row) <= 3 for row in rows.values())
    waiting = read_rows(rows.items())[0]["general"]
    key = w.wiring.router.router.lead_key
    assert sorted(waiting) == sorted(key(c, "general") for c in contacts)

    again = w.restart(wiped=True)  # every store rebuilt from its changelog
    engage(again, "c99")
    again.run()
    router = again.wiring.router
    assert router.queues["general"] == [*waiting, key("c99", "general")]
    assert router.queue_rows["general"] == 4

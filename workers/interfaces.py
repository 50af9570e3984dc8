"""Every I/O seam of the domain core, in one place. Test doubles live in tests/doubles.py."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from workers.engine.records import Record

if TYPE_CHECKING:  # the engine's transaction uses these seams: no cycle at run time
    from workers.engine.transaction import Transaction
    from workers.opportunity.state import OpportunityState


@runtime_checkable
class Clock(Protocol):
    """What time it is. Injected so tests and the demo can run days in seconds."""

    def now(self) -> dt.datetime:
        """An aware UTC datetime."""
        ...


class OutputSink(Protocol):
    """Where agents emit records. Delivery is confirmed before the causing offset commits."""

    def send(self, topic: str, key: bytes | None, value: bytes) -> Awaitable[object]: ...


# --- the state engine's seams (workers/engine; on Faust and Kafka: workers/runtime/engine_io.py)
class TableStore(Protocol):
    """One table's local store, partitioned like its changelog topic."""

    name: str
    changelog_topic: str

    def get(self, partition: int, key: str) -> Any:
        """The JSON value of `key` in `partition`, None when absent."""
        ...

    def encode(self, key: str, value: Any) -> tuple[bytes, bytes | None]:
        """Key and value as the changelog (and the store) hold them; None deletes."""
        ...

    def apply(self, partition: int, items: Mapping[str, Any], offset: int | None) -> None:
        """Write confirmed values (one write batch) and the changelog offset they reached."""
        ...

    def items(self, partition: int) -> Iterator[tuple[Any, Any]]:
        """(key, JSON value) of one partition, committed values only; safe to interleave with
        `apply` (a snapshot or a lazy read of the partition's own database)."""
        ...


class RecordSender(Protocol):
    """Sends records in partition batches and waits for the broker to confirm them."""

    async def send(self, records: Sequence[Record]) -> Sent:
        """Send every record; a broker error fails only the partition batches it hit."""
        ...


class Sent(NamedTuple):
    offsets: dict[str, int]  # "topic:partition" -> last offset written (confirmed records)
    failed: list[Record]  # records of the partition batches the broker did not confirm
    error: BaseException | None = None  # the first failure


class OutputLog(Protocol):
    """Reads back what was published, by output id (the engine's outbox read-back)."""

    async def ids_since(
        self, starts: Mapping[str, int], topics: Sequence[str], source: str
    ) -> OutputsSeen:
        """Ids of the outputs sent by `source` (their source header), in every partition of
        `topics` from `starts["topic:partition"]` (0 when absent) to the end as of now."""
        ...


class OutputsSeen(NamedTuple):
    ids: set[str]
    ends: dict[str, int]  # "topic:partition" -> last offset present (partitions with records)


# --- what one feature's runtime needs of another's (workers/runtime; no runtime imports another)
class OpportunitySchedule(Protocol):
    """The time-in-stage schedule of opportunities (workers/runtime/trigger_agents.py), as
    stage automation uses it in a batch of the opportunities engine."""

    table_name: str  # the opportunities table
    inactivity_ids: set[str]  # triggers re-armed by a buyer action

    def has_inactivity(self) -> bool:
        """Whether any trigger waits for silence (then every engagement is forwarded)."""
        ...

    def rescheduled(self, partition: int, key: str, state: OpportunityState) -> None:
        """An opportunity's new state is committed: when is it due next."""
        ...

    def counts_activity(self, state: OpportunityState) -> bool:
        """Whether a buyer action can move this opportunity's due time: a trigger of its
        stage counts from the last engagement. Else the due time stands (it depends on the
        stage visit, the marks and the last engagement only for such a trigger)."""
        ...


class ContactOpportunities(Protocol):
    """The contact → opportunities index of owner sync (workers/runtime/owner_agents.py)."""

    def open_opportunities(self, tx: Transaction, partition: int, contact_id: str) -> list[str]:
        """The contact's open opportunities, read in a batch of the contacts engine."""
        ...

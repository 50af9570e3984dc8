"""Every routing input, forwarded into the router's single partition as engine outputs.

Sales-ready signals, roster events, rep activities and email replies are forwarded to
`dealstream.router` by the engine of the partition they arrive on (each forward has an id
derived from its input, so it is sent once: a lost forward was the router's crash hole).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from schemas.records import EngagementRecorded
from workers.engine.transaction import Transaction
from workers.ingest.decoder import Decoded
from workers.notify.notices import Reply
from workers.rules.model import Rules
from workers.runtime.context import AppContext
from workers.runtime.engine_io import decoded
from workers.runtime.engines import Engines
from workers.runtime.tables import raw_topic
from workers.scoring.signals import SalesReadySignal
from workers.topics.internal import ROUTER, SALES_READY

log = logging.getLogger(__name__)

SIGNALS = "signals"  # the engine forwarding sales-ready signals to the router
OwnerOf = Callable[[Transaction, int, str], str | None]
_encode = msgspec.json.Encoder().encode


class RouterMessage(msgspec.Struct, frozen=True, kw_only=True):
    """What travels on the router topic."""

    kind: str  # signal | rep | activity | reply | tick
    body: bytes = b""


class RouterInputs:
    def __init__(self, ctx: AppContext, engines: Engines, topic_name: str) -> None:
        self.topic_name = topic_name
        self.notify = ctx.rules.notifications
        self.owner_of: OwnerOf = lambda tx, partition, contact_id: None
        engines.single.add(topic_name)
        for group in ("contacts", "reps", SIGNALS):
            engines.output(group, ROUTER)
        engines.input(SIGNALS, SALES_READY)
        sales_ready = raw_topic(ctx.app, ctx.settings, SALES_READY)

        engines.agent(SIGNALS, sales_ready, "router-signals", self._signals)

    def reload(self, rules: Rules) -> None:
        self.notify = rules.notifications

    # --- forwarding into the single partition (engine outputs: each sent once) ----------------
    def _forward(
        self, tx: Transaction, partition: int, kind: str, body: bytes, output_id: str
    ) -> None:
        value = _encode(RouterMessage(kind=kind, body=body))
        tx.emit(partition, self.topic_name, b"router", value, f"fwd:{output_id}", 0)

    def on_rep(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        self._forward(tx, partition, "rep", _encode(decoded.event), f"rep:{decoded.event.event_id}")

    def on_activity(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        body = _encode(decoded.event)
        self._forward(tx, partition, "activity", body, f"act:{decoded.event.event_id}")

    def on_engagement(self, tx: Transaction, decoded: Decoded, partition: int) -> None:
        """An email reply goes to the router, which knows the assignments (with the owner)."""
        e: EngagementRecorded = decoded.event  # type: ignore[assignment]
        if e.kind != "email_reply" or not self.notify.reply_received:
            return
        reply = Reply(
            event_id=e.event_id,
            contact_id=e.contact_id,
            at=decoded.at,
            rep_id=e.rep_id,
            owner_id=self.owner_of(tx, partition, e.contact_id),
            product_line=e.product_line,
            source=e.source,
            campaign_id=e.campaign_id,
        )
        self._forward(tx, partition, "reply", _encode(reply), f"reply:{e.event_id}")

    def _signals(self, events: list[Any]) -> Callable[[Transaction], None]:
        def work(tx: Transaction) -> None:
            for event, signal in decoded(events, SalesReadySignal, "sales-ready signal"):
                output_id = f"signal:{signal.signal_id}"
                self._forward(tx, event.message.partition, "signal", event.message.value, output_id)

        return work

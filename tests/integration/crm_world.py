"""A test's CRM: sends upstream events to the deployment's topics and reads its outputs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson

from tests.integration.kafka_io import consume, produce
from workers.devstack import LocalStack
from workers.settings import Settings


def now(offset: float = 0.0) -> dt.datetime:
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=offset)


class CrmWorld:
    def __init__(self, stack: LocalStack, settings: Settings) -> None:
        self.boot, self.s = stack.kafka.bootstrap, settings

    def send(self, topic: str, key: str, body: dict[str, Any]) -> None:
        produce(self.boot, self.s.topic(topic), [(key.encode(), orjson.dumps(body))])

    def read(self, topic: str, idle: float = 2.0) -> list[dict[str, Any]]:
        return [orjson.loads(m.value) for m in consume(self.boot, self.s.topic(topic), idle=idle)]

    def contact(self, contact: str, owner: str | None, **extra: Any) -> None:
        self.send(
            "crm.contacts",
            contact,
            {
                "event_id": f"u-{contact}",
                "type": "contact.upserted",
                "occurred_at": now().isoformat(),
                "contact_id": contact,
                "owner_id": owner,
                **extra,
            },
        )

    def engagement(
        self, event_id: str, contact: str, kind: str, at: dt.datetime | None = None, **extra: Any
    ) -> None:
        self.send(
            "crm.engagements",
            contact,
            {
                "event_id": event_id,
                "type": "engagement.recorded",
                "occurred_at": (at or now()).isoformat(),
                "contact_id": contact,
                "kind": kind,
                **extra,
            },
        )

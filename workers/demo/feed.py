"""What the demo's view shows, gathered from the output topics and the worker's HTTP endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from workers.demo.samples import Samples, parse_metrics, total
from workers.kafka_client import client_options
from workers.settings import Settings

RATE_WINDOW = 10.0  # seconds of scrapes the processing rate is measured over
OUTPUTS = (
    "crm.trigger-firings",
    "crm.lead-scores",
    "crm.lead-assignments",
    "crm.owner-changes",
    "crm.stage-moves",
    "crm.rep-notifications",
    "crm.dead-letters",
)


@dataclass
class Feed:
    """Counts and latest items per output; filled by `follow`, read by the view."""

    counts: Counter[str] = field(default_factory=Counter)
    firings: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=6))
    moves: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=4))
    assigned_to: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    notifications: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    owner_changes: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=3))
    leads: list[dict[str, Any]] = field(default_factory=list)
    pipelines: dict[str, Any] = field(default_factory=dict)
    metrics: str = ""
    unanswered: list[dict[str, Any]] = field(default_factory=list)  # for the simulated team
    header: dict[str, Any] = field(default_factory=dict)  # the header last shown
    parsed: Samples = field(default_factory=dict)  # `metrics`, parsed once per scrape
    # (monotonic time of the scrape, valid input events processed, input lag) per scrape
    samples: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=64))

    def snapshot(self) -> dict[str, Any]:
        """What the view shows, as JSON data (written as `last-view.json` when the demo stops,
        so a test can render the real thing at any terminal size)."""
        return {
            "counts": dict(self.counts), "firings": list(self.firings), "moves": list(self.moves),
            "assigned_to": dict(self.assigned_to), "decisions": dict(self.decisions),
            "notifications": dict(self.notifications), "dead_letters": dict(self.dead_letters),
            "owner_changes": list(self.owner_changes), "leads": self.leads,
            "pipelines": self.pipelines, "metrics": self.metrics, "samples": list(self.samples),
            "header": self.header,
        }  # fmt: skip

    @classmethod
    def from_snapshot(cls, data: dict[str, Any]) -> Feed:
        feed = cls(leads=list(data["leads"]), pipelines=dict(data["pipelines"]),
                   metrics=str(data["metrics"]), header=dict(data["header"]))  # fmt: skip
        for name in ("counts", "assigned_to", "decisions", "notifications", "dead_letters"):
            getattr(feed, name).update(data[name])
        for name in ("firings", "moves", "owner_changes"):
            getattr(feed, name).extend(data[name])
        feed.samples.extend(tuple(s) for s in data["samples"])
        feed.parsed = parse_metrics(feed.metrics)
        return feed

    def take_decisions(self) -> list[dict[str, Any]]:
        """The router's decisions read since the last call (the simulated team answers them)."""
        taken, self.unanswered = self.unanswered, []
        return taken

    def observe(self, at: float, metrics: str) -> None:
        """A scrape of the worker's /metrics, taken at `at` (monotonic seconds)."""
        self.metrics = metrics
        if not metrics:
            return
        m = self.parsed = parse_metrics(metrics)
        lag = sum(  # the CRM's input topics (whatever the prefix), not the internal ones
            v for k, v in m.get("dealstream_consumer_lag_messages", {}).items()
            if "crm." in dict(k).get("topic", "")
        )  # fmt: skip
        self.samples.append((at, total(m, "dealstream_events_valid_total"), lag))

    def rate(self, window: float = RATE_WINDOW) -> float | None:
        """Valid input events per second over the last `window` seconds of scrapes, from the
        worker's own counter (None until two scrapes span at least a second)."""
        if len(self.samples) < 2:
            return None
        last_at, last, _ = self.samples[-1]
        first_at, first = last_at, last
        for at, value, _ in reversed(self.samples):
            if last_at - at > window:
                break
            first_at, first = at, value
        if last_at - first_at < 1.0 or last < first:
            return None
        return (last - first) / (last_at - first_at)

    @property
    def lag(self) -> float | None:
        """Input records fetched by no agent yet, at the last scrape."""
        return self.samples[-1][2] if self.samples else None

    def add(self, topic: str, body: dict[str, Any]) -> None:
        self.counts[topic] += 1
        if topic == "crm.trigger-firings":
            self.firings.appendleft(body)
        elif topic == "crm.stage-moves":
            self.moves.appendleft(body)
        elif topic == "crm.lead-assignments":
            self.decisions[decision_kind(body)] += 1
            if body.get("decision") in ("assigned", "reassigned", "owner_notified"):
                self.assigned_to[body.get("rep_id") or "?"] += 1
            self.unanswered.append(body)
        elif topic == "crm.rep-notifications":
            self.notifications[body.get("kind", "?")] += 1
        elif topic == "crm.dead-letters":
            self.dead_letters[(body.get("error") or {}).get("code", "?")] += 1
        elif topic == "crm.owner-changes":
            self.owner_changes.appendleft(body)


def decision_kind(body: dict[str, Any]) -> str:
    """assigned, owner_notified, queued, reassigned, or released (assigned from the queue)."""
    decision = str(body.get("decision", "?"))
    if decision == "assigned" and (body.get("reason") or {}).get("code") == "released":
        return "released"
    return decision


async def follow(feed: Feed, settings: Settings) -> None:
    """Read every output topic from the start and keep `feed` current (until cancelled)."""
    names = {settings.topic(t): t for t in OUTPUTS}
    consumer = AIOKafkaConsumer(
        *names, **client_options(settings), auto_offset_reset="earliest",
        enable_auto_commit=False, group_id=None,
    )  # fmt: skip
    await consumer.start()
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=300, max_records=5000)
            for tp, messages in batch.items():
                for m in messages:
                    with contextlib.suppress(orjson.JSONDecodeError, TypeError):
                        body = orjson.loads(m.value or b"")
                        if isinstance(body, dict):
                            feed.add(names[tp.topic], body)
    finally:
        await consumer.stop()


async def poll_worker(feed: Feed, base_url: str) -> None:
    """The worker's /metrics, /pipelines and top sales-ready leads (from Redis via /leads)."""
    while True:
        text = (await asyncio.to_thread(_get, f"{base_url}/metrics")).decode()
        feed.observe(time.monotonic(), text)
        with contextlib.suppress(orjson.JSONDecodeError):
            feed.pipelines = orjson.loads(await asyncio.to_thread(_get, f"{base_url}/pipelines"))
        with contextlib.suppress(orjson.JSONDecodeError):
            found = orjson.loads(await asyncio.to_thread(_get, f"{base_url}/leads?ready=1&limit=6"))
            feed.leads = found.get("leads", []) if isinstance(found, dict) else []
        await asyncio.sleep(1.0)


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bytes(resp.read())
    except OSError:
        return b""

"""Publishing a simulation to Kafka, paced by an accelerated clock (the thin shell)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from workers.clock import AcceleratedClock
from workers.kafka_client import client_options, started
from workers.settings import Settings
from workers.simulate.simulator import SimulationConfig, Simulator


def clock_setting(factor: float, anchor: float) -> str:
    """What DEALSTREAM_CLOCK must be for workers to share the simulation's time."""
    return f"accelerated:{factor:g}@{anchor:.3f}"


class Publisher:
    def __init__(
        self,
        settings: Settings,
        config: SimulationConfig,
        anchor: float,
        decisions: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        """`decisions()`: the router's new decisions, which the simulated team answers."""
        self.decisions = decisions
        self.settings = settings
        self.config = config
        self.clock = AcceleratedClock(config.factor, anchor)
        self.simulator = Simulator(config, dt.datetime.fromtimestamp(anchor, dt.UTC))
        self.sent: Counter[str] = Counter()

    async def run(
        self,
        duration: float | None = None,
        on_tick: Callable[[Publisher], None] | None = None,
        interval: float = 0.1,
    ) -> None:
        producer = AIOKafkaProducer(
            **client_options(self.settings), acks="all", enable_idempotence=True, linger_ms=5
        )
        async with started(producer):
            await self._loop(producer, duration, on_tick, interval)

    async def _loop(
        self,
        producer: AIOKafkaProducer,
        duration: float | None,
        on_tick: Callable[[Publisher], None] | None,
        interval: float,
    ) -> None:
        begun = time.monotonic()
        while duration is None or time.monotonic() - begun < duration:
            tick = time.monotonic()
            now = self.clock.now().timestamp()
            for decision in self.decisions() if self.decisions is not None else ():
                self.simulator.assigned(decision)
            futures = []
            for _, topic, key, value in self.simulator.until(now):
                futures.append(await producer.send(self.settings.topic(topic), value, key=key))
                self.sent[topic] += 1
            if futures:
                await asyncio.gather(*futures)
            if on_tick is not None:
                on_tick(self)
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - tick)))

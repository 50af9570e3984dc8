"""Only bad input is a dead letter (issue 16.5): an infrastructure error is retried while the
partition is ours, and left to the new owner once it is not; a bug in a handler on this input
is the input's dead letter."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.errors import IllegalStateError, KafkaTimeoutError
from redis.exceptions import ConnectionError as RedisConnectionError

from workers.engine.errors import PartitionMoved
from workers.observability.metrics import Metrics
from workers.runtime.ingest_agents import _run

TP = SimpleNamespace(topic="crm.contacts", partition=2)


def ctx(assigned: bool) -> Any:
    consumer = SimpleNamespace(assignment=lambda: [TP] if assigned else [])
    return SimpleNamespace(app=SimpleNamespace(consumer=consumer), metrics=Metrics())


EVENT = SimpleNamespace(message=SimpleNamespace(topic="crm.contacts", partition=2, offset=9))


def flaky(*errors: Exception) -> Any:
    remaining = list(errors)

    async def handler(decoded: Any, event: Any) -> None:
        if remaining:
            raise remaining.pop(0)

    return handler


def run(coro: Any) -> Any:
    return asyncio.run(coro)  # the back-off really waits: 0.2 + 0.4 + 0.8 s at most here


def test_broker_and_redis_errors_are_retried_until_the_handler_succeeds() -> None:
    c = ctx(assigned=True)
    errors = (KafkaTimeoutError(), RedisConnectionError("down"), IllegalStateError("not assigned"))
    assert run(_run(c, flaky(*errors), None, EVENT)) is None  # type: ignore[arg-type]
    assert c.metrics.handler_retries.labels("KafkaTimeoutError")._value.get() == 1


def test_a_partition_that_moved_away_is_left_to_its_new_owner() -> None:
    handler = flaky(IllegalStateError("not assigned"))
    with pytest.raises(PartitionMoved, match="new owner re-processes it"):
        run(_run(ctx(assigned=False), handler, None, EVENT))  # type: ignore[arg-type]


def test_a_bug_on_this_input_is_its_dead_letter() -> None:
    result = run(_run(ctx(assigned=True), flaky(KeyError("fields")), None, EVENT))  # type: ignore[arg-type]
    assert result == "KeyError: 'fields'"

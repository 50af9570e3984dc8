"""The Redis view writes its backlog in round trips of FLUSH_CHUNK contacts, keeps what a failed
round trip did not write (never over a newer document), and lets a resync wait for room."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from workers.serving.redis_view import FLUSH_CHUNK, RedisLeadView


class Pipe:
    def __init__(self, client: FakeClient) -> None:
        self.client = client
        self.queued: list[str] = []

    async def __aenter__(self) -> Pipe:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self) -> None:
        await asyncio.sleep(0)
        if self.client.fail_on == len(self.client.trips):
            self.client.fail_on = None
            raise RedisConnectionError("gone")
        self.client.trips.append(self.queued)


class FakeClient:
    def __init__(self) -> None:
        self.trips: list[list[str]] = []
        self.fail_on: int | None = None

    def pipeline(self, transaction: bool) -> Pipe:
        return Pipe(self)

    def register_script(self, source: str) -> Any:
        async def run(keys: list[str], args: list[Any], client: Pipe) -> None:
            client.queued.append(args[1])

        return run


def view_with(client: FakeClient) -> RedisLeadView:
    view = RedisLeadView("redis://127.0.0.1:1/0", "t")
    view.client = client  # type: ignore[assignment]
    return view


def test_a_big_backlog_goes_out_in_chunks() -> None:
    client = FakeClient()
    view = view_with(client)
    for i in range(2 * FLUSH_CHUNK + 500):
        view.submit(f"c{i}", {"total": i})
    asyncio.run(view.flush())
    assert [len(trip) for trip in client.trips] == [FLUSH_CHUNK, FLUSH_CHUNK, 500]
    assert not view.pending


def test_a_failed_round_trip_keeps_its_documents_but_not_over_newer_ones() -> None:
    client = FakeClient()
    client.fail_on = 0
    view = view_with(client)
    for i in range(FLUSH_CHUNK + 10):
        view.submit(f"c{i}", {"v": 1})

    async def scenario() -> None:
        flushing = asyncio.ensure_future(view.flush())
        await asyncio.sleep(0)
        view.submit("c5", {"v": 2})  # newer, while its chunk is in flight
        with pytest.raises(RedisConnectionError):
            await flushing

    asyncio.run(scenario())
    assert client.trips == []
    assert len(view.pending) == FLUSH_CHUNK + 10
    assert view.pending["c5"] == b'{"v":2}'
    assert view.pending["c6"] == b'{"v":1}'


def test_room_waits_until_the_backlog_is_below_the_limit() -> None:
    client = FakeClient()
    view = view_with(client)
    for i in range(3 * FLUSH_CHUNK):
        view.submit(f"c{i}", {})

    async def scenario() -> int:
        waiter = asyncio.ensure_future(view.room(FLUSH_CHUNK + 1))
        await asyncio.sleep(0)
        assert not waiter.done()
        await view.flush()
        await waiter
        return len(client.trips)

    assert asyncio.run(scenario()) == 3

"""Writing the lead view to Redis without ever holding up scoring.

Scores are queued in memory (latest per contact wins) and flushed in pipelines by a
background task. While Redis is down, the queue keeps the latest score of every contact that
changed; when it answers again, the queue is flushed. If Redis lost its data (a restart
without persistence), the epoch key is gone: the owner of the view is asked to resubmit
every contact it holds, so nothing is missing afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Callable
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from workers.serving.keys import LeadKeys

log = logging.getLogger(__name__)

FLUSH_CHUNK = 500  # contacts per pipeline round trip (about 8 ms of the loop)

# KEYS: none. ARGV: prefix, contact id, json payload. Moves the contact between the sorted
# sets of its old and new owner/product lines, and sets its hash.
UPSERT = """
local prefix, id, doc = ARGV[1], ARGV[2], cjson.decode(ARGV[3])
local key = prefix .. ':lead:' .. id
local old = redis.call('HMGET', key, 'owner_id', 'product_lines', 'sales_ready')
local function sets(base, owner, lines)
  local out = {prefix .. ':' .. base}
  if owner and owner ~= '' then table.insert(out, prefix .. ':' .. base .. ':owner:' .. owner) end
  for _, pl in ipairs(lines) do table.insert(out, prefix .. ':' .. base .. ':pl:' .. pl) end
  return out
end
local old_lines = {}
if old[2] then old_lines = cjson.decode(old[2]) end
for _, base in ipairs({'leads', 'ready'}) do
  for _, s in ipairs(sets(base, old[1], old_lines)) do redis.call('ZREM', s, id) end
end
if doc.deleted then redis.call('DEL', key) return 0 end
local lines = doc.product_lines or {}
for _, s in ipairs(sets('leads', doc.owner_id, lines)) do redis.call('ZADD', s, doc.total, id) end
if doc.sales_ready then
  for _, s in ipairs(sets('ready', doc.owner_id, lines)) do redis.call('ZADD', s, doc.total, id) end
end
redis.call('HSET', key, 'doc', ARGV[3], 'owner_id', doc.owner_id or '',
  'product_lines', cjson.encode(lines), 'sales_ready', tostring(doc.sales_ready))
return 1
"""


class RedisLeadView:
    def __init__(self, url: str, prefix: str, *, flush_interval: float = 0.1) -> None:
        self.keys = LeadKeys(prefix)
        self.prefix = prefix
        self.client: aioredis.Redis = aioredis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2
        )
        self.pending: dict[str, bytes] = {}
        self.flush_interval = flush_interval
        self.on_lost: Callable[[], None] | None = None
        self.epoch: bytes | None = None
        self.healthy = False
        self.errors = 0
        self._task: asyncio.Task[None] | None = None
        self._script: Any = None
        self._flushed = asyncio.Event()

    def submit(self, contact_id: str, document: dict[str, Any]) -> None:
        self.pending[contact_id] = orjson.dumps(document)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="redis-lead-view")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(RedisError, OSError):
            await self.flush()
        await self.client.aclose()

    async def _run(self) -> None:
        backoff = self.flush_interval
        while True:
            try:
                await self._check_epoch()
                await self.flush()
                self.healthy = True
                backoff = self.flush_interval
            except (RedisError, OSError) as exc:
                if self.healthy:
                    log.warning(
                        "Redis view unavailable (%s); scoring goes on, view will catch up", exc
                    )
                self.healthy = False
                self.errors += 1
                backoff = min(backoff * 2, 2.0)
            await asyncio.sleep(backoff)

    async def _check_epoch(self) -> None:
        current: Any = await self.client.get(self.keys.epoch)
        if current is None:
            await self.client.set(self.keys.epoch, uuid.uuid4().hex.encode(), nx=True)
            current = await self.client.get(self.keys.epoch)
        if current != self.epoch:
            if self.epoch is not None or current is not None:
                log.info("Redis view epoch changed: resubmitting every contact")
                if self.on_lost is not None:
                    self.on_lost()
            self.epoch = current

    async def flush(self) -> None:
        """Write what is pending, `FLUSH_CHUNK` contacts per round trip: a resync of a whole
        partition never packs one giant pipeline on the event loop."""
        while self.pending:
            if self._script is None:
                self._script = self.client.register_script(UPSERT)
            ids = list(itertools.islice(self.pending, FLUSH_CHUNK))
            batch = {contact_id: self.pending.pop(contact_id) for contact_id in ids}
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for contact_id, doc in batch.items():
                        await self._script(
                            keys=[], args=[self.prefix, contact_id, doc], client=pipe
                        )
                    await pipe.execute()
            except BaseException:
                # keep what was not written, without overwriting newer submissions
                self.pending = {**batch, **self.pending}
                raise
            self._flushed.set()

    async def room(self, limit: int) -> None:
        """Wait until fewer than `limit` documents are pending (a resync's back-pressure)."""
        while len(self.pending) >= limit:
            self._flushed.clear()
            await self._flushed.wait()

    async def query(
        self,
        *,
        min_score: float,
        owner: str | None,
        product_line: str | None,
        ready: bool,
        limit: int,
    ) -> list[dict[str, Any]]:
        key = self.keys.leads(ready=ready, owner=owner, product_line=product_line)
        ids: list[Any] = await self.client.zrevrangebyscore(
            key, "+inf", min_score, start=0, num=limit
        )
        if not ids:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for contact_id in ids:
                pipe.hget(self.keys.lead(contact_id.decode()), "doc")
            docs = await pipe.execute()
        return [orjson.loads(d) for d in docs if d]

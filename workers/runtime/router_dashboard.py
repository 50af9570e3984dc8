"""Rep load and queue depth in Redis for dashboards: best effort, the latest state wins."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sized
from typing import Any

from redis.exceptions import RedisError

from workers.routing.roster import Rep
from workers.serving.redis_view import RedisLeadView

log = logging.getLogger(__name__)


class RouterDashboard:
    def __init__(
        self, view: Callable[[], RedisLeadView | None], prefix: str,
        state: Callable[[], tuple[Mapping[str, Rep], Mapping[str, Sized]]],
    ) -> None:  # fmt: skip
        self.view = view
        self.prefix = prefix
        self.state = state
        self.dirty = False
        self.task: asyncio.Task[None] | None = None

    def touch(self) -> None:
        """The router state changed: write it soon (one writer at a time)."""
        self.dirty = True
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        view = self.view()
        while view is not None and self.dirty:
            self.dirty = False
            reps, queues = self.state()
            try:
                async with view.client.pipeline(transaction=False) as pipe:
                    for rep in reps.values():
                        pipe.hset(
                            f"{self.prefix}:rep-load:{rep.rep_id}",
                            mapping={
                                "open_leads": rep.open_leads,
                                "assigned_day": rep.assigned_day,
                                "assigned_month": rep.assigned_month,
                                "active": int(rep.active and not rep.deleted),
                            },
                        )
                    pipe.delete(f"{self.prefix}:queue-depth")
                    depths: dict[Any, Any] = {pl: len(q) for pl, q in queues.items()}
                    if depths:
                        pipe.hset(f"{self.prefix}:queue-depth", mapping=depths)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                log.warning("router dashboard not written to Redis: %s", exc)
                self.dirty = True
                await asyncio.sleep(1.0)

"""Rules applied without a restart: the compacted, single-partition topic `dealstream.rules`.

`dealstream rules publish FILE` validates a rules file and writes its text there (key
`rules`). Every worker reads the topic whole, outside the consumer group: at start-up the
latest published file wins over DEALSTREAM_RULES_FILE (so a restarted worker agrees with the
others), and while running a newer version is validated and applied between two events of
every agent — every worker switches within about a second of the others, and
`dealstream_rules_info{version}` says which version is in force. A file that does not
validate is logged and counted, and the rules in force stay.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from workers.kafka_client import client_options, started
from workers.rules.errors import RulesError
from workers.rules.loader import parse_rules
from workers.rules.model import Rules
from workers.settings import Settings
from workers.topics.internal import RULES

log = logging.getLogger(__name__)

KEY = b"rules"


async def publish_rules(settings: Settings, text: str, file: str) -> Rules:
    """Validate, then publish (raises RulesError and publishes nothing when invalid)."""
    rules = parse_rules(text, file)
    producer = AIOKafkaProducer(**client_options(settings), acks="all", enable_idempotence=True)
    async with started(producer):
        await producer.send_and_wait(settings.topic(RULES), text.encode(), key=KEY)
    return rules


async def latest_published(settings: Settings) -> tuple[Rules, str] | None:
    """The latest valid published rules (and their text), or None when there are none."""
    consumer = AIOKafkaConsumer(
        **client_options(settings), enable_auto_commit=False, group_id=None,
        auto_offset_reset="earliest",
    )  # fmt: skip
    async with started(consumer):
        tp = TopicPartition(settings.topic(RULES), 0)
        if settings.topic(RULES) not in await consumer.topics():
            return None
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        await consumer.seek_to_beginning(tp)
        found: tuple[Rules, str] | None = None
        deadline = asyncio.get_running_loop().time() + 30.0
        while await consumer.position(tp) < end:  # compacted: a handful of records
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{tp.topic} not read to its end ({end}) within 30 s")
            batch = await consumer.getmany(tp, timeout_ms=1000)
            for message in batch.get(tp, []):
                parsed = _parse(message.value, message.offset)
                if isinstance(parsed, Rules):
                    found = parsed, (message.value or b"").decode()
        return found


def _parse(value: bytes | None, offset: int) -> Rules | RulesError:
    where = f"{RULES}@{offset}"
    try:
        return parse_rules((value or b"").decode(), where)
    except RulesError as exc:
        return exc
    except UnicodeDecodeError:
        return RulesError(where, "$", None, "not UTF-8")


class RulesWatcher:
    """Follows the rules topic and calls `apply` with each newer valid version."""

    def __init__(
        self, settings: Settings, current: Callable[[], str], apply: Callable[[Rules], None],
        on_invalid: Callable[[RulesError], None],
    ) -> None:  # fmt: skip
        self.settings = settings
        self.current = current
        self.apply = apply
        self.on_invalid = on_invalid

    async def run(self) -> None:
        topic = self.settings.topic(RULES)
        while True:
            consumer = AIOKafkaConsumer(
                topic, **client_options(self.settings), enable_auto_commit=False,
                group_id=None, auto_offset_reset="earliest",
            )  # fmt: skip
            try:
                await consumer.start()
                while True:
                    batch = await consumer.getmany(timeout_ms=1000)
                    records = [(m.value, m.offset) for ms in batch.values() for m in ms if m.value]
                    if records:
                        self._consider(records)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("rules topic: reading failed; retrying in 5 s")
                await asyncio.sleep(5)
            finally:
                await consumer.stop()

    def _consider(self, records: list[tuple[bytes, int]]) -> None:
        """Apply the newest valid version of a batch; refuse the newest when it is invalid."""
        newest = _parse(*records[-1])
        if isinstance(newest, RulesError):
            log.error("published rules refused, the rules in force stay: %s", newest)
            self.on_invalid(newest)
        for value, offset in reversed(records):
            rules = _parse(value, offset)
            if isinstance(rules, Rules):
                if rules.version != self.current():
                    log.info("rules: applying version %s (was %s)", rules.version, self.current())
                    self.apply(rules)
                return

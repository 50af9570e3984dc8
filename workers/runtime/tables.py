"""Declaring tables the same way everywhere: JSON keys and values, the topics' partitions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import faust
import orjson

from workers.settings import Settings


def json_table(
    app: Any, settings: Settings, name: str, help_text: str, partitions: int | None = None
) -> Any:
    """A table with str keys and JSON values, co-partitioned with the contract topics.

    Values read from it are plain JSON data; a value changed in place must be assigned back.
    """
    schema: Any = faust.Schema(key_serializer="json", value_serializer="json")
    return app.Table(
        name,
        default=None,
        partitions=partitions or settings.partitions,
        schema=schema,
        help=help_text,
    )


def raw_topic(
    app: Any,
    settings: Settings,
    name: str,
    partitions: int | None = None,
    **kw: Any,
) -> Any:
    """A topic of the contract or an internal one (prefix applied), read and written as bytes.

    Every topic has the configured partition count (the tables co-partitioned with it need
    that), except the single-writer router's.
    """
    return app.topic(
        settings.topic(name),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions or settings.partitions,
        replicas=settings.replication_factor,
        **kw,
    )


def iter_partition(table: Any, partition: int) -> Iterator[tuple[Any, Any]]:
    """(key, value) of one partition of a JSON table, without deserialising the others.

    With the rocksdict store this reads the partition's own database lazily; with the memory
    store (tests, dev) it walks a snapshot, so writes between chunks cannot break the walk.
    """
    store = table.data
    if hasattr(store, "_db_for_partition"):
        db = store._db_for_partition(partition)
        for key, value in store._visible_items(db):
            if value is not None:
                yield orjson.loads(key), orjson.loads(value)
    else:
        yield from list(store.items())

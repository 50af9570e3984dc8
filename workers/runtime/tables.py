"""Declaring tables the same way everywhere: JSON keys and values, the topics' partitions."""

from __future__ import annotations

from typing import Any

import faust

from workers.settings import Settings


def json_table(app: Any, settings: Settings, name: str, help_text: str) -> Any:
    """A table with str keys and JSON values, co-partitioned with the contract topics.

    Values read from it are plain JSON data; a value changed in place must be assigned back.
    """
    schema: Any = faust.Schema(key_serializer="json", value_serializer="json")
    return app.Table(
        name,
        default=None,
        partitions=settings.partitions,
        schema=schema,
        help=help_text,
    )

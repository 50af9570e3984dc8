"""The one way input times are read: RFC 3339 with `Z` or a `+HH:MM` offset, exactly the
pattern of every schema's `date-time` fields, then a plausible window for `occurred_at`.

msgspec alone also takes `+0100` or a missing seconds field; the pattern refuses them first,
so the worker and the schemas give the same verdict on every string (a property test says so).
An input's times are checked natively (`dealstream_core.rfc3339`, workers/native/src/times.rs),
which a property test holds to the pattern's `re.match`: the regex engine cost about 2,500
instructions a time.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import msgspec
import msgspec.inspect as mi
from dealstream_core import rfc3339

PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
RFC3339 = re.compile(PATTERN)

Path = tuple[str, ...]  # field names; "*" steps into every item of a list


def time_paths(record: type[msgspec.Struct]) -> list[Path]:
    """The paths of every datetime field of a record, nested structs and lists included."""
    return list(_walk(mi.type_info(record), ()))


def _walk(node: mi.Type, path: Path) -> Iterator[Path]:
    if isinstance(node, mi.DateTimeType):
        yield path
    elif isinstance(node, mi.StructType):
        for f in node.fields:
            yield from _walk(f.type, (*path, f.encode_name))
    elif isinstance(node, mi.ListType | mi.VarTupleType):
        yield from _walk(node.item_type, (*path, "*"))
    elif isinstance(node, mi.UnionType):
        for option in node.types:
            yield from _walk(option, path)


def bad_time(obj: Any, paths: list[Path]) -> tuple[str, str] | None:
    """(JSON path, value) of the first time string that is not RFC 3339 with an offset."""
    for path in paths:
        if len(path) == 1:  # a top-level field, as most are: no walk
            value = obj.get(path[0]) if isinstance(obj, dict) else None
            if isinstance(value, str) and not rfc3339(value):
                return f"$.{path[0]}", value
            continue
        for where, value in _values(obj, path, "$"):
            if isinstance(value, str) and not rfc3339(value):
                return where, value
    return None


def _values(node: Any, path: Path, where: str) -> Iterator[tuple[str, Any]]:
    if not path:
        yield where, node
        return
    head, rest = path[0], path[1:]
    if head == "*":
        if isinstance(node, list):
            for i, item in enumerate(node):
                yield from _values(item, rest, f"{where}[{i}]")
    elif isinstance(node, dict) and head in node:
        yield from _values(node[head], rest, f"{where}.{head}")


def parse_bound(text: str) -> dt.datetime:
    """A setting's time: RFC 3339 with an offset (ValueError otherwise)."""
    if not RFC3339.match(text):
        raise ValueError("expected an RFC 3339 time with Z or +HH:MM, e.g. 2000-01-01T00:00:00Z")
    return dt.datetime.fromisoformat(text.replace("z", "Z").replace(" ", "T"))

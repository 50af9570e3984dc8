"""`docs/contract.md`, written from the schema files and the topic catalog, so the contract a
reader sees is the one the worker enforces. `python -m schemas.contract_doc` rewrites it;
`tests/unit/test_contract_doc.py` fails when the file and the schemas disagree."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from schemas.catalog import ENGAGEMENT_KINDS, INPUT_TOPICS, OUTPUT_TOPICS, VERSION, schema_path

DOC = Path(__file__).resolve().parents[1] / "docs" / "contract.md"
COMMON = ("type", "event_id", "occurred_at", "schema_version")
KINDS = ", ".join(f"`{k}`" for k in ENGAGEMENT_KINDS)

INTRO = f"""# The event contract, version {VERSION}

<!-- Written by `python -m schemas.contract_doc` from `schemas/*.json` and `schemas/catalog.py`;
     `tests/unit/test_contract_doc.py` fails when it drifts. Edit the schemas, then rerun. -->

What upstream systems may rely on, and what consumers of the outputs get. `schemas/` holds one
JSON Schema 2020-12 file per event type and output (`<type>.v{VERSION}.json`), with typed records
beside them (`schemas/records.py`); a test proves both give the same verdict on every example.
A later version may add optional fields, never drop or rename one.

- Every message is a UTF-8 JSON object. Its key is the UTF-8 bytes of the id named in the
  *key* column; an entity's events must be produced in order to one partition. Kafka's
  default partitioner (murmur2 of the key) is best; a record another partitioner (CRC32)
  placed elsewhere is moved to its murmur2 partition by the workers, and counted.
- Order holds within a partition, not across topics: the workers apply each topic's events
  as they are fetched, never holding one back to wait for another topic. A contact's upsert
  and its engagement produced a moment apart may be applied in either order; a lead that
  becomes sales-ready is routed with the owner its contact has at that moment.
- Every topic name takes the prefix `DEALSTREAM_TOPIC_PREFIX` (default empty).
- Every input event has `event_id` (unique per event: the dedupe key), `type` (below),
  `occurred_at` (RFC 3339 with `Z` or a `+HH:MM` offset) and `schema_version` (optional,
  `{VERSION}`).
- An input that breaks this contract is never applied and never dropped silently: it goes to
  `crm.dead-letters` with its original bytes and a reason code (table at the end), whatever
  its size (too large for a dead letter: its first 64 KiB, `value_truncated`, with size and
  SHA-256), once (`dead_letter_id` from topic, partition and offset; a replay repeats none).
  An error that is not the input's fault (broker, Redis, a rebalance) never dead-letters it.
- Every output carries `emitted_at`, and `event_id`: the input event that caused it where one
  did. Outputs have deterministic ids (`firing_id`, `assignment_id`, `move_id`,
  `notification_id`): the workers never publish the same one twice, across restarts and
  rebalances, and a consumer may still dedupe on them.
- Engagement kinds the contract names: {KINDS}; others are accepted on the topic
  and scored only when a rules file declares them (`engagement_kinds`).
"""

# The reason codes of crm.dead-letters (`workers.ingest.errors.RejectCode`; a test keeps
# both in step).
DEAD_LETTER_CODES: dict[str, str] = {
    "invalid_encoding": "is not UTF-8",
    "invalid_json": "is not JSON",
    "not_an_object": "is JSON but not an object",
    "message_too_large": "is larger than `DEALSTREAM_MAX_MESSAGE_BYTES`",
    "missing_field": "lacks a required field (`error.path` names it)",
    "wrong_type": "has a field of the wrong type",
    "invalid_value": "has a value its field does not allow (an unknown enum value, a bad pattern)",
    "out_of_range": "has a value outside its bounds (a negative amount, an empty id, ...)",
    "unknown_event_type": "has a `type` this topic does not carry",
    "unsupported_schema_version": "has a `schema_version` this worker does not know",
    "bad_timestamp": "has a time that is not RFC 3339 with `Z` or a `+HH:MM` offset",
    "implausible_timestamp": "has an `occurred_at` outside `DEALSTREAM_MIN_OCCURRED_AT` .. "
    "`DEALSTREAM_MAX_OCCURRED_AT` (2000-01-01 .. 2100-01-01 by default)",
    "key_mismatch": "has a key that is not its entity's id",
    "processing_error": "made a handler fail on this input itself",
}


def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(schema_path(name).read_text())
    return schema


def describe_type(spec: dict[str, Any]) -> str:
    """A short, readable type of one property."""
    if "const" in spec:
        return f"`{json.dumps(spec['const'])}`"
    if "enum" in spec:
        return " \\| ".join(f"`{v}`" for v in spec["enum"])
    kind = spec.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    shown = []
    for k in kinds:
        if k == "string" and spec.get("format") == "date-time":
            shown.append("time")
        elif k == "array" and isinstance(spec.get("items"), dict):
            shown.append(f"array of {describe_type(spec['items'])}")
        else:
            shown.append(str(k))
    text = " or ".join(shown)
    bounds = []
    if "minimum" in spec:
        bounds.append(f"≥ {spec['minimum']:g}")
    if "maximum" in spec:
        bounds.append(f"≤ {spec['maximum']:g}")
    return f"{text} ({', '.join(bounds)})" if bounds else text


def field_table(schema: dict[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    required = set(schema.get("required", []))
    rows = ["| field | type | required | meaning |", "| --- | --- | --- | --- |"]
    for name, spec in schema["properties"].items():
        if name in skip:
            continue
        meaning = str(spec.get("description", "")).replace("|", "\\|").replace("\n", " ")
        mark = "yes" if name in required else ""
        rows.append(f"| `{name}` | {describe_type(spec)} | {mark} | {meaning} |")
    return rows


def render() -> str:
    out = [INTRO, "## Inputs", ""]
    out += ["| topic | key | `type` values |", "| --- | --- | --- |"]
    for topic in INPUT_TOPICS:
        types = ", ".join(f"`{t}`" for t in topic.event_types)
        compact = " (compacted)" if topic.compacted else ""
        out.append(f"| `{topic.name}`{compact} | `{topic.key_field}` | {types} |")
    out.append("")
    for topic in INPUT_TOPICS:
        for event_type in topic.event_types:
            schema = load(event_type)
            out += [f"### `{event_type}` on `{topic.name}`", "", schema.get("description", ""), ""]
            out += [*field_table(schema, skip=COMMON), ""]
    out += ["## Outputs", ""]
    out += ["| topic | key | schema |", "| --- | --- | --- |"]
    for output in OUTPUT_TOPICS:
        name = schema_path(output.schema_name).name
        out.append(f"| `{output.name}` | `{output.key_field}` | `schemas/{name}` |")
    out.append("")
    for output in OUTPUT_TOPICS:
        schema = load(output.schema_name)
        out += [f"### `{output.name}`", "", schema.get("description", ""), ""]
        out += [*field_table(schema), ""]
    out += ["## Dead-letter reason codes", "", "| `error.code` | the input |", "| --- | --- |"]
    out += [f"| `{code}` | {meaning} |" for code, meaning in DEAD_LETTER_CODES.items()]
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render())
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Why an input event could not be used. Each reason has a stable machine-readable code."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RejectCode(StrEnum):
    INVALID_ENCODING = "invalid_encoding"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MESSAGE_TOO_LARGE = "message_too_large"
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    INVALID_VALUE = "invalid_value"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    UNSUPPORTED_SCHEMA_VERSION = "unsupported_schema_version"
    BAD_TIMESTAMP = "bad_timestamp"
    IMPLAUSIBLE_TIMESTAMP = "implausible_timestamp"
    KEY_MISMATCH = "key_mismatch"
    PROCESSING_ERROR = "processing_error"


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input that cannot be used, and why. `path` is a JSON path (`$.amount`) or None."""

    code: RejectCode
    message: str
    path: str | None = None

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.code}: {self.message}{where}"

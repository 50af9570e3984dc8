"""The published event contract: JSON Schema files (draft 2020-12) and typed records beside them.

`schemas/*.json` are the source of truth for upstream teams; `schemas.records` are the typed
records the workers decode into. `tests/unit/test_schema_agreement.py` proves the two agree.
"""

from schemas.catalog import INPUT_TOPICS, OUTPUT_TOPICS, SCHEMA_DIR, schema_path

__all__ = ["INPUT_TOPICS", "OUTPUT_TOPICS", "SCHEMA_DIR", "schema_path"]

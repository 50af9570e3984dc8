"""Redis key names of the lead view (pure: shared by the writer, the reader and tests)."""

from __future__ import annotations


class LeadKeys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def lead(self, contact_id: str) -> str:
        return f"{self.prefix}:lead:{contact_id}"

    def leads(
        self, *, ready: bool = False, owner: str | None = None, product_line: str | None = None
    ) -> str:
        base = f"{self.prefix}:{'ready' if ready else 'leads'}"
        if owner is not None:
            return f"{base}:owner:{owner}"
        if product_line is not None:
            return f"{base}:pl:{product_line}"
        return base

    @property
    def epoch(self) -> str:
        return f"{self.prefix}:epoch"

"""Per-contact scoring state and how contact, form and engagement events change it."""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.records import ContactDeleted, ContactUpserted, EngagementRecorded, FormSubmitted
from workers.engine import table_form
from workers.rules.model import Scalar
from workers.scoring.engagement import FORM_SUBMITTED, Interaction
from workers.scoring.native import Ledger
from workers.text import shared

EMPTY_LEDGER = Ledger()  # ledgers are immutable: one empty one serves every new contact


class Snapshot(msgspec.Struct, frozen=True, gc=False):
    """The last published score."""

    fit: int
    engagement: int
    total: int
    stars: int
    grade: str | None
    ready: bool
    breakdown: list[tuple[str, int]]
    rules_version: str

    def worth_publishing(self, last: Snapshot | None, resolution: int) -> bool:
        """Whether this score means something new to a consumer of the published `last`:
        the total rounded to `resolution` (cents), the stars, the grade or sales-ready."""
        return last is None or self.key(resolution) != last.key(resolution)

    def key(self, resolution: int) -> tuple[int, int, bool, str | None]:
        """What a consumer of scores tells apart: a score with another key is published."""
        return round(self.total / resolution), self.stars, self.ready, self.grade


class ContactState(msgspec.Struct, kw_only=True, gc=False):
    contact_id: str
    partition: int
    crm_fields: dict[str, Scalar] = {}
    form_fields: dict[str, Scalar] = {}
    crm_updated_at: float = 0.0
    organization_id: str | None = None
    owner_id: str | None = None
    org_fields: dict[str, Scalar] = {}
    org_updated_at: float = 0.0
    # the engagement ledger with its decay sums (half-life), native (workers/native); a table
    # keeps it as {"entries": [[rule, hundredths, epoch seconds, event id], ...], "decay": sums}
    ledger: Ledger = EMPTY_LEDGER
    product_line: str | None = None
    product_lines: list[str] = []
    interest_at: float = 0.0
    last: Snapshot | None = None
    ready_entries: int = 0
    scores: int = 0  # scores published: the n-th one's output id is `score:<contact>:<n>`
    deleted: bool = False
    known: bool = False  # seen in the CRM or a form (engagement alone does not make a lead)
    cause_event_id: str | None = None  # the last input applied: what a later re-score names

    def cause(self, event_id: str | None = None) -> str:
        """The input a score of this state names: the last one applied (a decay or a new rules
        version re-scores what that input left), else the last engagement in the ledger.
        `event_id`: as if it were the last one applied."""
        cause = self.cause_event_id if event_id is None else event_id
        if cause:
            return cause
        return self.ledger.last_event() or f"contact:{self.contact_id}"

    @property
    def fields(self) -> dict[str, Scalar]:
        return {**self.form_fields, **self.crm_fields}

    @property
    def ready(self) -> bool:
        return self.last is not None and self.last.ready


def new_state(contact_id: str, partition: int) -> ContactState:
    return ContactState(contact_id=contact_id, partition=partition)


def apply_contact(
    state: ContactState, event: ContactUpserted | ContactDeleted
) -> ContactState | None:
    """CRM record of the contact: newer replaces older; older events are ignored."""
    at = event.occurred_at.timestamp()
    if at < state.crm_updated_at:
        return None
    if isinstance(event, ContactDeleted):
        return msgspec.structs.replace(state, deleted=True, crm_updated_at=at)
    return msgspec.structs.replace(
        state,
        crm_fields=dict(event.fields),
        crm_updated_at=at,
        organization_id=shared(event.organization_id),
        owner_id=shared(event.owner_id),
        deleted=False,
        known=True,
    )


def interest(
    state: ContactState, product_line: str | None, at: float
) -> tuple[str | None, list[str], float]:
    """(product line, product lines, interest at) after an interest in `product_line` at `at`
    (`_interest`'s changes, as values: the state's own where they do not change)."""
    if product_line is None:
        return state.product_line, state.product_lines, state.interest_at
    product_line = shared(product_line)  # kept with the state: one object per product line
    lines = state.product_lines
    if product_line not in lines:
        lines = [*lines, product_line]
    if at >= state.interest_at:
        return product_line, lines, at
    return state.product_line, lines, state.interest_at


def _interest(state: ContactState, product_line: str | None, at: float) -> dict[str, Any]:
    if product_line is None:
        return {}
    line, lines, interest_at = interest(state, product_line, at)
    return {"product_lines": lines, "product_line": line, "interest_at": interest_at}


def form_interaction(event: FormSubmitted) -> Interaction:
    return Interaction(
        event.event_id,
        FORM_SUBMITTED,
        event.occurred_at.timestamp(),
        source=event.source,
        form=event.form_id,
        product_line=event.product_line,
    )


def engagement_interaction(event: EngagementRecorded) -> Interaction:
    return Interaction(
        event.event_id,
        event.kind,
        event.occurred_at.timestamp(),
        source=event.source,
        product_line=event.product_line,
    )


def apply_form(state: ContactState, event: FormSubmitted, ledger: Ledger) -> ContactState:
    """`ledger`: as `Scorer.record` made it."""
    at = event.occurred_at.timestamp()
    return msgspec.structs.replace(
        state,
        form_fields={**state.form_fields, **event.fields},
        ledger=ledger,
        known=True,
        **_interest(state, event.product_line, at),
    )


def apply_engagement(
    state: ContactState, event: EngagementRecorded, ledger: Ledger
) -> ContactState:
    at = event.occurred_at.timestamp()
    changes = _interest(state, event.product_line, at)
    return msgspec.structs.replace(state, ledger=ledger, **changes)


def apply_organization(
    state: ContactState, fields: dict[str, Scalar], at: float
) -> ContactState | None:
    if at < state.org_updated_at:
        return None
    return msgspec.structs.replace(state, org_fields=fields, org_updated_at=at)


def to_table(state: ContactState) -> Any:
    return table_form.to_builtins(state)


def from_table(raw: Any) -> ContactState | None:
    """The state as stored (JSON data, its ledger in the table form), or as a batch left it
    (the struct itself, handed back as it is, without `msgspec.convert`'s call)."""
    if raw is None or type(raw) is ContactState:
        return raw
    if isinstance(raw, dict):
        raw = {**raw, "ledger": ledger_from_table(raw.get("ledger"), raw.get("decay"))}
    return msgspec.convert(raw, ContactState)


def ledger_from_table(stored: Any, decay: Any = None) -> Ledger:
    """A ledger as a table keeps it ({"entries": ..., "decay": ...}), or as builds before
    the native core kept it: its entries, with the decay sums beside it in the state."""
    if stored is None:
        return EMPTY_LEDGER
    if isinstance(stored, Ledger):
        return stored
    if isinstance(stored, dict):
        return Ledger(stored.get("entries"), stored.get("decay"))
    return Ledger(stored, decay)

"""Records on the internal topics of scoring (not part of the public contract)."""

from __future__ import annotations

import datetime as dt

import msgspec

from workers.rules.model import Scalar


class OrgMembership(msgspec.Struct, frozen=True, kw_only=True):
    """A contact joined or left an organization (keyed by organization id)."""

    organization_id: str
    contact_id: str
    member: bool
    at: float


class OrgFields(msgspec.Struct, frozen=True, kw_only=True):
    """An organization's fields, sent to one of its contacts (keyed by contact id)."""

    organization_id: str
    contact_id: str
    fields: dict[str, Scalar]
    at: float
    event_id: str | None = None  # the organization event that set these fields


class SalesReadySignal(msgspec.Struct, frozen=True, kw_only=True):
    """A contact entered sales-ready (keyed by contact id): the router's input."""

    signal_id: str
    contact_id: str
    owner_id: str | None
    product_line: str | None
    product_lines: list[str]
    total: float
    stars: int
    breakdown: list[tuple[str, float]]
    event_id: str | None
    emitted_at: dt.datetime

"""Which opportunities must change owner, given a contact's owner and its opportunities.

Open opportunities follow when `owner_sync.open` is on; closed ones only when
`owner_sync.closed` is on (by default a closed opportunity keeps its historical owner). A
command already sent for an opportunity is not sent again until something changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from workers.text import shared


class LinkedOpportunity(msgspec.Struct, kw_only=True):
    status: str
    owner_id: str | None
    commanded: str | None = None  # the owner we last asked the CRM to set
    at: float = 0.0
    created: bool = True  # first seen with this link (for "created with no owner")


class ContactOwnership(msgspec.Struct, kw_only=True, gc=False):
    contact_id: str
    partition: int = -1  # of the contact's key
    owner_id: str | None = None
    owner_at: float = 0.0
    opportunities: dict[str, LinkedOpportunity] = {}
    # the open ones, in the order of `opportunities` (`open_of`): each engagement reads them,
    # where reading every link touched each link's struct; None in a state an earlier build
    # wrote (then made from `opportunities` as it is read)
    open: list[str] | None = None

    def open_ids(self) -> list[str]:
        """The contact's open opportunities, in the order it was linked to them."""
        found = self.open
        return open_of(self.opportunities) if found is None else found


def open_of(opportunities: dict[str, LinkedOpportunity]) -> list[str]:
    return [o for o, link in opportunities.items() if link.status == "open"]


@dataclass(frozen=True)
class Command:
    opportunity_id: str
    contact_id: str
    old_owner_id: str | None
    new_owner_id: str
    reason: str


def commands(
    state: ContactOwnership,
    *,
    sync_open: bool,
    sync_closed: bool,
    only: set[str] | None = None,
    reason: str,
) -> tuple[ContactOwnership, list[Command]]:
    """Commands for the opportunities (all, or `only`) whose owner differs from the contact's."""
    owner = state.owner_id
    if owner is None:
        return state, []
    out: list[Command] = []
    opportunities = dict(state.opportunities)
    for opp_id, link in state.opportunities.items():
        if only is not None and opp_id not in only:
            continue
        allowed = sync_open if link.status == "open" else sync_closed
        if not allowed or link.status == "deleted":
            continue
        if link.owner_id == owner or link.commanded == owner:
            continue
        out.append(Command(opp_id, state.contact_id, link.owner_id, owner, reason))
        opportunities[opp_id] = msgspec.structs.replace(link, commanded=owner)
    return msgspec.structs.replace(state, opportunities=opportunities), out


def link_opportunity(
    state: ContactOwnership, opp_id: str, status: str, owner_id: str | None, at: float
) -> tuple[ContactOwnership, bool]:
    """Record an opportunity's status and owner; True when it is new and has no owner."""
    old = state.opportunities.get(opp_id)
    if old is not None and at < old.at:
        return state, False
    link = LinkedOpportunity(
        status=shared(status),
        owner_id=shared(owner_id),
        at=at,
        created=old is None,
        commanded=old.commanded if old is not None and old.commanded != owner_id else None,
    )
    opportunities = {**state.opportunities, opp_id: link}
    new_without_owner = old is None and owner_id is None and status == "open"
    new = msgspec.structs.replace(state, opportunities=opportunities, open=open_of(opportunities))
    return new, new_without_owner

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.ownership.sync import ContactOwnership, commands, link_opportunity


def contact_with_three() -> ContactOwnership:
    state = ContactOwnership(contact_id="c1", owner_id="old", owner_at=1.0)
    for opp, status in (("o1", "open"), ("o2", "open"), ("o3", "won")):
        state, _ = link_opportunity(state, opp, status, "old", 1.0)
    return state


def test_open_ones_follow_by_default_and_closed_ones_only_when_asked() -> None:
    state = contact_with_three()
    state.owner_id = "new"
    _, default = commands(state, sync_open=True, sync_closed=False, reason="x")
    assert sorted(c.opportunity_id for c in default) == ["o1", "o2"]
    _, everything = commands(state, sync_open=True, sync_closed=True, reason="x")
    assert sorted(c.opportunity_id for c in everything) == ["o1", "o2", "o3"]
    assert {(c.old_owner_id, c.new_owner_id) for c in everything} == {("old", "new")}


def test_a_command_is_not_repeated_until_something_changes() -> None:
    state = contact_with_three()
    state.owner_id = "new"
    state, first = commands(state, sync_open=True, sync_closed=False, reason="x")
    state, again = commands(state, sync_open=True, sync_closed=False, reason="x")
    assert len(first) == 2
    assert again == []
    state, _ = link_opportunity(state, "o1", "open", "new", 2.0)  # the CRM applied it
    assert state.opportunities["o1"].owner_id == "new"


def test_a_new_open_opportunity_without_owner_is_flagged_and_older_links_are_ignored() -> None:
    state = ContactOwnership(contact_id="c1", owner_id="rep")
    state, new = link_opportunity(state, "o9", "open", None, 5.0)
    assert new
    state, _ = link_opportunity(state, "o9", "lost", None, 4.0)
    assert state.opportunities["o9"].status == "open"
    _, todo = commands(
        state, sync_open=True, sync_closed=False, only={"o9"}, reason="created_without_owner"
    )
    assert [(c.opportunity_id, c.new_owner_id) for c in todo] == [("o9", "rep")]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["o1", "o2", "o3", "o4"]),
            st.sampled_from(["open", "won", "lost", "deleted"]),
            st.sampled_from([None, "r1", "r2"]),
            st.integers(min_value=0, max_value=20),
            st.booleans(),  # then the contact's owner changes
        ),
        max_size=30,
    )
)
def test_the_open_opportunities_kept_are_those_of_the_links(
    steps: list[tuple[str, str, str | None, int, bool]],
) -> None:
    """`ContactOwnership.open` is kept with the links (linked, relinked, commanded), in their
    order; a state written before it existed (no `open`) reads with the same list."""
    state = ContactOwnership(contact_id="c1", owner_id="r0")
    for opp, status, owner, at, owner_changes in steps:
        state, _ = link_opportunity(state, opp, status, owner, float(at))
        if owner_changes:
            state = msgspec.structs.replace(state, owner_id=f"r{at % 3}")
            state, _ = commands(state, sync_open=True, sync_closed=True, reason="test")
        expected = [o for o, link in state.opportunities.items() if link.status == "open"]
        assert state.open_ids() == expected
        stored = msgspec.to_builtins(state)
        del stored["open"]  # as an earlier build wrote it
        assert msgspec.convert(stored, ContactOwnership).open_ids() == expected

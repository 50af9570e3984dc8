"""The native engagement ledger (workers/native, Rust) against its reference,
workers/scoring/engagement.py: on random rules and histories both give the same entries, the
same decay sums and the same points, bit for bit, after every step."""

from __future__ import annotations

import struct

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from workers.rules.model import DecayRule, EngagementCap, EngagementRule, EngagementRules
from workers.scoring.contact import ledger_from_table
from workers.scoring.engagement import MAX_LEDGER, DecaySums, EngagementScorer, Entry, Interaction
from workers.scoring.native import Ledger, native_core

KINDS = ["email_open", "page_view", "demo_request", "form_submitted"]
SOURCES = [None, "web", "email"]
LINES = [None, "core", "analytics"]


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same_sums(ref: DecaySums | None, native: Ledger) -> None:
    got = native.sums()
    if ref is None:
        assert got is None
        return
    assert got is not None
    period, anchor, size, by_rule = got
    assert (bits(period), bits(anchor), size) == (bits(ref.period), bits(ref.anchor), ref.size)
    assert [(k, bits(v)) for k, v in by_rule.items()] == [(k, bits(v)) for k, v in ref.sums.items()]


rules_strategy = st.lists(
    st.builds(
        lambda kind, points, source, line, cap: (kind, points, source, line, cap),
        st.sampled_from(KINDS),
        st.sampled_from([1.0, 2.5, 5.0, 10.0, 0.33, -3.0, 25.0]),
        st.sampled_from(SOURCES),
        st.sampled_from(LINES),
        st.one_of(
            st.none(),
            st.tuples(st.integers(min_value=0, max_value=4), st.sampled_from(["1h", "1d", "7d"])),
        ),
    ),
    min_size=1,
    max_size=6,
)


def scorer_of(
    specs: list[tuple[str, float, str | None, str | None, tuple[int, str] | None]],
    decay: str,
    period: str,
    max_total: float | None,
) -> EngagementScorer:
    rules = [
        EngagementRule(
            id=f"r{n}",
            kind=kind,
            points=points,
            source=source,
            product_line=line,
            cap=None if cap is None else EngagementCap(count=cap[0], per=cap[1]),
        )
        for n, (kind, points, source, line, cap) in enumerate(specs)
    ]
    decay_rule = DecayRule(kind=decay, period=period)  # type: ignore[arg-type]
    return EngagementScorer(EngagementRules(rules=rules, decay=decay_rule, max_total=max_total))


steps = st.lists(
    st.tuples(
        st.sampled_from(KINDS),
        st.integers(min_value=0, max_value=30 * 24).map(lambda h: h * 3600.0 + 0.25),
        st.integers(min_value=0, max_value=60),  # event ids repeat: a replay adds nothing
        st.sampled_from(SOURCES),
        st.sampled_from(LINES),
        st.integers(min_value=-2, max_value=40 * 24).map(lambda h: h * 3600.0),  # look: now
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(
    specs=rules_strategy,
    decay=st.sampled_from(["half_life", "half_life", "linear", "expire", "none"]),
    period=st.sampled_from(["3d", "14d", "30d"]),
    max_total=st.sampled_from([None, 20.0, 1000.0]),
    history=steps,
)
def test_the_native_ledger_equals_the_reference_bit_for_bit(
    specs: list[tuple[str, float, str | None, str | None, tuple[int, str] | None]],
    decay: str,
    period: str,
    max_total: float | None,
    history: list[tuple[str, float, int, str | None, str | None, float]],
) -> None:
    ref = scorer_of(specs, decay, period, max_total)
    core = native_core(ref)
    ledger: list[Entry] = []
    sums: DecaySums | None = None
    native = Ledger()
    start = 1_700_000_000.0
    for kind, at, n, source, line, look in history:
        # ids held inline, and longer than that (shared), multibyte UTF-8 among them
        event = (f"e{n}", f"événement-{n}-" + "x" * 44, f"é{n}")[n % 3]
        interaction = (event, kind, start + at, source, None, line)
        ledger, sums = ref.record_summed(ledger, sums, ref_interaction(*interaction))
        native = core.record(native, *interaction)
        assert native.entries() == ledger
        same_sums(sums, native)
        now = start + look
        lines, total = ref.contributions_summed(ledger, now, sums)
        assert core.contributions(native, now) == (lines, total)
        assert core.decay_total(native, now) == ref.decay_total(ledger, sums, now)
        assert core.next_change(native, now, 21600.0) == ref.next_change(ledger, now, 21600.0)
        if look >= at:  # a re-score prunes (it never runs before the engagement it follows)
            ledger, sums = ref.prune_summed(ledger, sums, now)
            native = core.prune(native, now)
            assert native.entries() == ledger
            same_sums(sums, native)


def ref_interaction(
    event: str, kind: str, at: float, source: str | None, form: str | None, line: str | None
) -> Interaction:
    return Interaction(event, kind, at, source=source, form=form, product_line=line)


def test_a_full_ledger_drops_its_oldest_entries_as_the_reference_does() -> None:
    ref = scorer_of([("email_open", 1.0, None, None, None)], "half_life", "14d", None)
    core = native_core(ref)
    ledger: list[Entry] = []
    sums: DecaySums | None = None
    native = Ledger()
    for n in range(MAX_LEDGER + 30):
        i = (f"e{n}", "email_open", 1_700_000_000.0 + n * 60.0, None, None, None)
        ledger, sums = ref.record_summed(ledger, sums, ref_interaction(*i))
        native = core.record(native, *i)
    late = ("late", "email_open", 1_700_000_000.0 + 90.5, None, None, None)  # in its place
    ledger, sums = ref.record_summed(ledger, sums, ref_interaction(*late))
    native = core.record(native, *late)
    assert len(native) == len(ledger) == MAX_LEDGER
    assert native.entries() == ledger
    same_sums(sums, native)


def test_a_ledger_from_the_tables_form_keeps_its_sums() -> None:
    ref = scorer_of([("page_view", 2.0, None, None, None)], "half_life", "14d", None)
    ledger, sums = ref.record_summed(
        [], None, ref_interaction("e1", "page_view", 5.0, None, None, None)
    )
    native = ledger_from_table(ledger, msgspec.to_builtins(sums))
    assert native.entries() == ledger
    same_sums(sums, native)
    assert native.last_event() == "e1"
    assert native == ledger_from_table(ledger, msgspec.to_builtins(sums))
    assert native != Ledger()


@given(st.permutations(range(8)), st.integers(min_value=0, max_value=9))
def test_a_ledger_out_of_order_keeps_each_event_id_with_its_entry_when_pruned(
    order: list[int], cut: int
) -> None:
    """A stored ledger not oldest first is pruned entry by entry (not by its front): the
    native ledger keeps the event ids beside the entries, and each must stay with its own."""
    ref = scorer_of([("page_view", 2.0, None, None, None)], "expire", "3d", None)
    core = native_core(ref)
    day = 86400.0
    stored: list[Entry] = [("r0", 200, n * day / 2, f"e{n}") for n in order]
    native = ledger_from_table(stored, None)
    assert native.entries() == stored
    now = cut * day / 2 + 2 * day
    kept, _ = ref.prune_summed(stored, None, now)
    pruned = core.prune(native, now)
    assert pruned.entries() == kept
    assert pruned.last_event() == (kept[-1][3] if kept else None)
    assert native.entries() == stored  # the ledger pruned from is as it was


@settings(max_examples=200, deadline=None)
@given(
    specs=rules_strategy,
    decay=st.sampled_from(["half_life", "half_life", "linear", "expire"]),
    history=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**6), steps.map(lambda s: s[:1])),
        max_size=60,
    ),
    prune_every=st.sampled_from([3, 7, 1000]),
)
def test_ledgers_that_share_a_buffer_stay_as_recorded(
    specs: list[tuple[str, float, str | None, str | None, tuple[int, str] | None]],
    decay: str,
    history: list[tuple[int, list[tuple[str, float, int, str | None, str | None, float]]]],
    prune_every: int,
) -> None:
    """A native ledger appends to a buffer it shares with the ledger it grew from. Recording
    again from any older ledger (a retried batch, the same state in two places) must neither
    change that ledger nor the ones grown from it: each stays what the reference made."""
    ref = scorer_of(specs, decay, "3d", None)
    core = native_core(ref)
    versions: list[tuple[list[Entry], DecaySums | None, Ledger]] = [([], None, Ledger())]
    start = 1_700_000_000.0
    for step, (pick, one) in enumerate(history):
        if not one:
            continue
        kind, at, n, source, line, look = one[0]
        ledger, sums, native = versions[pick % len(versions)]  # often not the newest
        interaction = (f"e{n}-{step}", kind, start + at, source, None, line)
        ledger, sums = ref.record_summed(ledger, sums, ref_interaction(*interaction))
        native = core.record(native, *interaction)
        if step % prune_every == 0:
            now = start + max(at, look)
            ledger, sums = ref.prune_summed(ledger, sums, now)
            native = core.prune(native, now)
        versions.append((ledger, sums, native))
    for ledger, sums, native in versions:
        assert native.entries() == ledger
        same_sums(sums, native)


def test_a_ledger_at_its_size_limit_keeps_its_newest_entries_through_many_more() -> None:
    """At the size limit each entry added drops the oldest: the shared buffer sheds its dead
    front now and then; ledgers kept from along the way stay as they were."""
    ref = scorer_of([("email_open", 1.0, None, None, None)], "half_life", "14d", None)
    core = native_core(ref)
    ledger: list[Entry] = []
    sums: DecaySums | None = None
    native = Ledger()
    kept: list[tuple[list[Entry], Ledger]] = []
    for n in range(3 * MAX_LEDGER):
        i = (f"e{n}", "email_open", 1_700_000_000.0 + n * 60.0, None, None, None)
        ledger, sums = ref.record_summed(ledger, sums, ref_interaction(*i))
        native = core.record(native, *i)
        if n % 97 == 0:
            kept.append((ledger, native))
    assert native.entries() == ledger
    same_sums(sums, native)
    for old, old_native in kept:
        assert old_native.entries() == old

"""The router's decisions as pure functions over its state.

State: the reps (with counters), one record per lead (per contact, or per contact and product
line; workers/routing/leads.py), and a FIFO queue per product line. Each function returns the
new pieces of state and the decisions to publish; `assignment_id`s are derived from their
cause, so replaying an input reproduces the same decision with the same id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from workers.routing.choose import ALL_PASSED, AT_CAPACITY, NO_REP, NONE_AVAILABLE, Choice, choose
from workers.routing.leads import Decision, Lead, Outcome
from workers.routing.queue import Queue
from workers.routing.roster import Rep, record_assignment, record_release
from workers.rules.model import RoutingRules
from workers.triggers.durations import parse_duration

GENERAL = "general"
# a line with no rep to take a lead that excludes nobody: within one tick, assignments only
# load reps further, so every later such lead of the line gets the same answer
BLOCKED = frozenset({NO_REP, AT_CAPACITY, NONE_AVAILABLE})


class Router:
    skip_blocked = True  # False: resolve every queued lead on a tick (the tests' reference)

    def __init__(self, rules: RoutingRules) -> None:
        self.rules = rules

    def lead_key(self, contact_id: str, product_line: str) -> str:
        return contact_id if self.rules.lead_model == "single" else f"{contact_id}|{product_line}"

    def sla_seconds(self, product_line: str) -> float | None:
        sla = self.rules.policy_for(product_line).sla
        return parse_duration(sla) if sla else None

    def sla_deadline(
        self, rep: Rep, product_line: str, now: float, sla: float | None
    ) -> float | None:
        """When the SLA expires: counted on the rep's working hours unless `sla_clock: calendar`."""
        if not sla:
            return None
        if self.rules.policy_for(product_line).sla_clock == "calendar":
            return now + sla
        return rep.add_working_time(now, sla)

    def _choose(
        self, reps: dict[str, Rep], lead: Lead, now: float, exclude: frozenset[str]
    ) -> Choice:
        policy = self.rules.policy_for(lead.product_line)
        strategy = policy.fallback if policy.policy == "relationship_owner" else policy.policy
        pool: list[Rep] = list(reps.values())
        if lead.product_line == GENERAL:  # no product line given: any rep may take it
            pool = [msgspec.structs.replace(r, product_lines=[GENERAL]) for r in reps.values()]
        return choose(
            pool,
            lead.product_line,
            now,
            strategy=strategy,
            ignore_hours=policy.ignore_hours,
            exclude=exclude,
        )

    def on_sales_ready(
        self,
        reps: dict[str, Rep],
        existing: Lead | None,
        queue: Sequence[str],
        *,
        signal_id: str,
        contact_id: str,
        owner_id: str | None,
        product_line: str | None,
        breakdown: list[tuple[str, float]],
        now: float,
        seq: int,
        ready_at: float | None = None,
        event_id: str | None = None,
    ) -> Outcome:
        pl = product_line or GENERAL
        key = self.lead_key(contact_id, pl)
        if existing is not None and existing.signal_id == signal_id:
            return Outcome(seq=seq)  # a replay: already decided
        lead = Lead(
            key=key,
            contact_id=contact_id,
            product_line=pl,
            owner_id=owner_id,
            signal_id=signal_id,
            breakdown=breakdown,
            ready_at=ready_at or now,
            cause_event_id=event_id or signal_id,
        )
        out = Outcome(seq=seq)
        if existing is not None and existing.status in ("assigned", "accepted", "contacted"):
            # already with a rep (single model: latest interest): keep it there, say so
            cause = lead.cause_event_id
            lead = msgspec.structs.replace(existing, signal_id=signal_id, product_line=pl)
            out.leads[key] = lead
            out.decisions.append(
                Decision(
                    f"asg:{signal_id}",
                    contact_id,
                    pl,
                    existing.rep_id,
                    "assigned",
                    "already_assigned",
                    f"already with {existing.rep_id}",
                    (),
                    cause,
                )
            )
            return out
        queue = Queue.of(queue)
        if existing is not None and existing.status == "queued":
            queue = queue.without(key)
        policy = self.rules.policy_for(pl)
        if policy.policy == "relationship_owner" and owner_id:
            lead = msgspec.structs.replace(
                lead, status="owner_notified", rep_id=owner_id, assignment_id=f"asg:{signal_id}"
            )
            out.leads[key] = lead
            out.decisions.append(
                Decision(
                    f"asg:{signal_id}",
                    contact_id,
                    pl,
                    owner_id,
                    "owner_notified",
                    "relationship_owner",
                    "the contact's owner keeps the relationship",
                    (owner_id,),
                    lead.cause_event_id,
                )
            )
            return out
        return self._assign(reps, lead, queue, now, out, f"asg:{signal_id}", "assigned")

    def _assign(
        self,
        reps: dict[str, Rep],
        lead: Lead,
        queue: Queue,
        now: float,
        out: Outcome,
        assignment_id: str,
        decision: str,
        code: str | None = None,
        cause: str | None = None,
        due: float | None = None,
    ) -> Outcome:
        """`cause`: the input this decision names (default: the lead's own cause); `due`: the
        SLA deadline whose expiry made it."""
        event_id = cause or lead.cause_event_id or lead.signal_id
        lead, choice = self.resolve(reps, lead, now)
        escalated = (
            choice.code == ALL_PASSED
            and self.rules.policy_for(lead.product_line).all_passed == "escalate"
        )  # to the line's manager, beyond capacity and hours, with no SLA
        if choice.rep_id is None:
            lead = msgspec.structs.replace(
                lead, status="queued", rep_id=None, queued_at=lead.queued_at or now
            )
            out.leads[lead.key] = lead
            out.queues[lead.product_line] = queue.queued(lead.key)
            out.decisions.append(
                Decision(
                    assignment_id,
                    lead.contact_id,
                    lead.product_line,
                    None,
                    "queued",
                    choice.code,
                    f"{code}: {choice.text}" if code else choice.text,
                    choice.candidates,
                    event_id,
                    due,
                )
            )
            return out
        out.seq += 1
        rep = record_assignment(reps[choice.rep_id], now, out.seq)
        reps = {**reps, rep.rep_id: rep}
        out.reps[rep.rep_id] = rep
        sla = None if escalated else self.sla_seconds(lead.product_line)
        lead = msgspec.structs.replace(
            lead,
            status="assigned",
            rep_id=rep.rep_id,
            assigned_at=now,
            sla_due=self.sla_deadline(rep, lead.product_line, now, sla),
            attempt=lead.attempt + 1,
            assignment_id=assignment_id,
        )
        out.leads[lead.key] = lead
        if lead.product_line in out.queues or lead.key in queue:
            out.queues[lead.product_line] = out.queues.get(lead.product_line, queue).without(
                lead.key
            )
        out.decisions.append(
            Decision(
                assignment_id,
                lead.contact_id,
                lead.product_line,
                rep.rep_id,
                "reassigned" if escalated else decision,
                ALL_PASSED if choice.code == ALL_PASSED else code or choice.code,
                choice.text,
                choice.candidates,
                event_id,
                due,
            )
        )
        return out

    def resolve(self, reps: dict[str, Rep], lead: Lead, now: float) -> tuple[Lead, Choice]:
        """The rep this lead would go to now (or why none), after its line's `all_passed` rule.

        `reset`: a lead every active rep has passed over starts a new round with no exclusions
        (the choice's code then says `all_reps_passed`). `escalate`: the choice names the
        line's `escalate_to` rep when that rep is in the roster and active, else the lead waits
        with code `all_reps_passed` (and is retried on every tick).
        """
        choice = self._choose(reps, lead, now, frozenset(lead.excluded))
        if choice.code != ALL_PASSED:
            return lead, choice
        policy = self.rules.policy_for(lead.product_line)
        if policy.all_passed == "escalate":
            manager = reps.get(policy.escalate_to or "")
            if manager is None or manager.deleted or not manager.active:
                text = f"{choice.text}; escalation rep {policy.escalate_to} is not active"
                return lead, Choice(None, ALL_PASSED, text, ())
            text = f"{choice.text}: escalated to {manager.rep_id}"
            return lead, Choice(manager.rep_id, ALL_PASSED, text, (manager.rep_id,))
        lead = msgspec.structs.replace(lead, excluded=[], round=lead.round + 1)
        again = self._choose(reps, lead, now, frozenset())
        if again.rep_id is None:
            return lead, again
        text = f"{choice.text}: round {lead.round}, {again.text}"
        return lead, Choice(again.rep_id, ALL_PASSED, text, again.candidates)

    def on_activity(
        self,
        reps: dict[str, Rep],
        lead: Lead | None,
        queue: Sequence[str],
        *,
        kind: str,
        rep_id: str,
        event_id: str,
        now: float,
        seq: int,
    ) -> Outcome:
        out = Outcome(seq=seq)
        if (
            lead is None
            or lead.rep_id != rep_id
            or lead.status not in ("assigned", "accepted", "contacted")
        ):
            return out
        if kind == "lead.accepted":
            if lead.status == "assigned":
                out.leads[lead.key] = msgspec.structs.replace(lead, status="accepted", sla_due=None)
            return out
        if kind == "lead.contacted":
            # worked: the lead no longer counts against the rep's open leads (capacity)
            if lead.status != "contacted":
                out.leads[lead.key] = msgspec.structs.replace(
                    lead, status="contacted", sla_due=None
                )
                if rep_id in reps:
                    out.reps[rep_id] = record_release(reps[rep_id])
            return out
        # rejected: reassign at once, that rep excluded
        if rep_id in reps:
            out.reps[rep_id] = record_release(reps[rep_id])
            reps = {**reps, rep_id: out.reps[rep_id]}
        lead = msgspec.structs.replace(lead, excluded=[*lead.excluded, rep_id])
        return self._assign(
            reps,
            lead,
            Queue.of(queue),
            now,
            out,
            f"asg:{lead.key}:rejected:{event_id}",
            "reassigned",
            "rejected",
            event_id,
        )

    def on_time(
        self,
        reps: dict[str, Rep],
        leads: dict[str, Lead],
        queues: Mapping[str, Sequence[str]],
        *,
        now: float,
        seq: int,
    ) -> Outcome:
        """SLA expiries, then every queued lead in arrival order that some rep can take now."""
        out = Outcome(seq=seq)
        current = dict(reps)
        due = [
            x
            for x in leads.values()
            if x.status == "assigned" and x.sla_due is not None and x.sla_due <= now
        ]
        for lead in sorted(due, key=lambda x: x.sla_due or 0):
            if lead.rep_id in current:
                current[lead.rep_id] = out.reps[lead.rep_id] = record_release(current[lead.rep_id])
            expired = msgspec.structs.replace(lead, excluded=[*lead.excluded, lead.rep_id or ""])
            step = self._assign(
                current,
                expired,
                _queue(out, queues, lead.product_line),
                now,
                Outcome(seq=out.seq),
                f"asg:{lead.key}:sla:{lead.attempt}",
                "reassigned",
                "sla_expired",
                due=lead.sla_due,
            )
            self._merge(out, step, current)
        choices: dict[tuple[str, frozenset[str]], Choice] = {}  # while no rep changes
        for pl in list(dict.fromkeys([*queues, *out.queues])):
            queue = Queue.of(queues.get(pl, ()))
            remaining = out.queues.get(pl, queue)
            blocked = False  # no rep can take a lead of this line that excludes nobody
            for key in list(remaining):
                found = out.leads.get(key) or leads.get(key)
                if found is None or found.status != "queued" or found.product_line != pl:
                    remaining = remaining.without(key)  # gone, or queued again elsewhere
                    continue
                if blocked and not found.excluded and self.skip_blocked:
                    continue
                choice = self._resolved(choices, current, found, now)
                if choice.rep_id is None:
                    blocked = blocked or (not found.excluded and choice.code in BLOCKED)
                    continue  # arrival order, but a lead nobody can take blocks no other
                step = self._assign(
                    current,
                    found,
                    remaining,
                    now,
                    Outcome(seq=out.seq),
                    f"asg:{found.signal_id}:released:{found.attempt}",
                    "assigned",
                    "released",
                )
                self._merge(out, step, current)
                choices.clear()  # a rep changed
                remaining = remaining.without(key)
            if remaining != queue:
                out.queues[pl] = remaining
        return out

    def _resolved(
        self,
        choices: dict[tuple[str, frozenset[str]], Choice],
        reps: dict[str, Rep],
        lead: Lead,
        now: float,
    ) -> Choice:
        """`resolve`'s choice, remembered for the tick while `reps` stay the same: it depends
        on the lead's line and exclusions alone (a month's tick asked it 264 times, for a
        handful of answers)."""
        if not self.skip_blocked:  # the tests' reference: every queued lead resolved
            return self.resolve(reps, lead, now)[1]
        key = (lead.product_line, frozenset(lead.excluded))
        found = choices.get(key)
        if found is None:
            found = choices[key] = self.resolve(reps, lead, now)[1]
        return found

    @staticmethod
    def _merge(out: Outcome, step: Outcome, current: dict[str, Rep]) -> None:
        out.seq = step.seq
        out.reps.update(step.reps)
        current.update(step.reps)
        out.leads.update(step.leads)
        out.queues.update(step.queues)
        out.decisions.extend(step.decisions)


def _queue(out: Outcome, queues: Mapping[str, Sequence[str]], line: str) -> Queue:
    """`line`'s queue as `out` leaves it so far."""
    found = out.queues.get(line)
    return found if found is not None else Queue.of(queues.get(line, ()))

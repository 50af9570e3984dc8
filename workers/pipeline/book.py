"""The live pipeline figures of one partition, kept as opportunities change.

Every figure is a sum or a count (open deals and value, weighted forecast, won/lost in the
trailing window, cycle and stage-time sums), so partitions and workers add up; ratios (win
rate, average deal size, velocity) are computed from the sums at read time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import msgspec

from workers.opportunity.state import OpportunityState
from workers.rules.model import PipelineRule
from workers.triggers.durations import parse_duration

DAY = 86400.0


class OpenDeal(msgspec.Struct, frozen=True, gc=False):
    """One open deal (not tracked by the garbage collector: a million of them are long-lived
    and hold no references that could form a cycle)."""

    pipeline: str
    stage: str
    entered_at: float
    amount: float
    probability: float


class ClosedDeal(msgspec.Struct, frozen=True, gc=False):
    pipeline: str
    outcome: str  # won | lost
    closed_at: float
    amount: float
    cycle: float  # seconds from created to closed
    stage: str = ""  # the stage it closed in (a won stage such as retention, or the last one)


@dataclass
class PipelineConfig:
    pipelines: list[PipelineRule]
    window: float
    probability: dict[tuple[str, str], float] = field(default_factory=dict)
    normal: dict[tuple[str, str], float] = field(default_factory=dict)
    order: dict[str, list[str]] = field(default_factory=dict)
    won: dict[str, set[str]] = field(default_factory=dict)
    lost: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_rules(cls, pipelines: list[PipelineRule], window: str) -> PipelineConfig:
        config = cls(pipelines, parse_duration(window))
        for p in pipelines:
            config.order[p.id] = [s.id for s in p.stages]
            config.won[p.id] = set(p.won_stages)
            config.lost[p.id] = set(p.lost_stages)
            for s in p.stages:
                config.probability[(p.id, s.id)] = s.probability
                if s.normal:
                    config.normal[(p.id, s.id)] = parse_duration(s.normal)
        return config

    def outcome(self, state: OpportunityState) -> str | None:
        if state.deleted:
            return None
        if state.status in ("won", "lost"):
            return state.status
        if state.stage_id in self.won.get(state.pipeline_id, ()):
            return "won"
        if state.stage_id in self.lost.get(state.pipeline_id, ()):
            return "lost"
        return None


class PipelineBook:
    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.open: dict[str, OpenDeal] = {}
        self.closed: dict[str, ClosedDeal] = {}
        self.stage_time: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
        self._stage_time_of: dict[str, tuple[str, dict[str, float]]] = {}

    def snapshot(self) -> PipelineBook:
        """A copy a report can read while this book changes (deals are immutable: shared)."""
        copy = PipelineBook(self.config)
        copy.open = dict(self.open)
        copy.closed = dict(self.closed)
        copy.stage_time.update({where: list(t) for where, t in self.stage_time.items()})
        return copy

    def apply(self, state: OpportunityState) -> None:
        key = state.opportunity_id
        self.open.pop(key, None)
        self.closed.pop(key, None)
        previous = self._stage_time_of.pop(key, None)
        if previous is not None:
            pipeline, times = previous
            for stage, seconds in times.items():
                total = self.stage_time[(pipeline, stage)]
                total[0] -= seconds
                total[1] -= 1
        if state.deleted:
            return
        if state.stage_time:
            self._stage_time_of[key] = (state.pipeline_id, dict(state.stage_time))
            for stage, seconds in state.stage_time.items():
                total = self.stage_time[(state.pipeline_id, stage)]
                total[0] += seconds
                total[1] += 1
        outcome = self.config.outcome(state)
        amount = state.amount or 0.0
        if outcome is None and state.status == "open":
            probability = state.probability
            if probability is None:
                probability = self.config.probability.get((state.pipeline_id, state.stage_id), 0.0)
            self.open[key] = OpenDeal(
                state.pipeline_id, state.stage_id, state.entered_at, amount, probability
            )
        elif outcome is not None:
            closed_at = state.closed_at or state.entered_at
            self.closed[key] = ClosedDeal(
                state.pipeline_id,
                outcome,
                closed_at,
                amount,
                max(0.0, closed_at - state.created_at),
                state.stage_id,
            )

"""Profile (fit) points: per field, the best matching rule counts (as Vtiger does)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workers.rules.model import ProfileRule, Scalar
from workers.scoring.conditions import MISSING, Condition, compile_condition


def cents(points: float) -> int:
    return round(points * 100)


@dataclass(frozen=True)
class CompiledProfileRule:
    id: str
    field: str
    cents: int
    matches: Condition


class ProfileScorer:
    def __init__(self, rules: Sequence[ProfileRule]) -> None:
        self.by_field: dict[str, list[CompiledProfileRule]] = defaultdict(list)
        for rule in rules:
            compiled = CompiledProfileRule(
                rule.id, rule.field, cents(rule.points), compile_condition(rule)
            )
            self.by_field[rule.field].append(compiled)

    def contributions(self, fields: Mapping[str, Scalar]) -> list[tuple[str, int]]:
        """(rule id, hundredths of a point) for the best matching rule of each field."""
        out = []
        for field, rules in self.by_field.items():
            value = fields.get(field, MISSING)
            matching = [r for r in rules if r.matches(value)]
            if matching:
                best = max(matching, key=lambda r: r.cents)
                out.append((best.id, best.cents))
        return out

    def best_possible(self) -> int:
        """The sum of each field's top value: the ideal profile."""
        return sum(max(0, max(r.cents for r in rules)) for rules in self.by_field.values())

"""Profile (fit) points: per field, the best matching rule counts (as Vtiger does)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workers.rules.model import ProfileRule, Scalar
from workers.scoring.conditions import MISSING, Condition, compile_condition

MEMO_SIZE = 65536  # (field, value) pairs remembered


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
        self._memo: dict[tuple[str, type, object], tuple[str, int] | None] = {}
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
            best = self._best(field, rules, value)
            if best is not None:
                out.append(best)
        return out

    def _best(
        self, field: str, rules: list[CompiledProfileRule], value: object
    ) -> tuple[str, int] | None:
        """The best matching rule of `field` for `value`, remembered per (type, value): a
        field's values repeat across contacts (countries, sizes, titles), and a condition is a
        pure function of the value. The memory is bounded: it starts over when full."""
        key = (field, type(value), value)
        try:
            return self._memo[key]
        except KeyError:
            pass
        except TypeError:  # not hashable: not remembered
            return _best_of(rules, value)
        if len(self._memo) >= MEMO_SIZE:
            self._memo.clear()
        found = self._memo[key] = _best_of(rules, value)
        return found

    def best_possible(self) -> int:
        """The sum of each field's top value: the ideal profile."""
        return sum(max(0, max(r.cents for r in rules)) for rules in self.by_field.values())


def _best_of(rules: list[CompiledProfileRule], value: object) -> tuple[str, int] | None:
    matching = [r for r in rules if r.matches(value)]
    if not matching:
        return None
    best = max(matching, key=lambda r: r.cents)
    return (best.id, best.cents)

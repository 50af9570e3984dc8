"""Conditions of profile rules: equals, in, range [min, max], contains, exists, regex.

String comparisons ignore case and surrounding spaces (CRM data is typed by people).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from workers.rules.model import ProfileRule, Scalar
from workers.scoring.errors import ScoringConfigError

MISSING = object()
Value = Scalar | object
Condition = Callable[[Value], bool]


def _norm(value: Value) -> Value:
    return value.strip().casefold() if isinstance(value, str) else value


def _number(value: Value) -> float | None:
    if isinstance(value, bool) or value is MISSING or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _equal(a: Value, b: Value) -> bool:
    na, nb = _norm(a), _norm(b)
    if na == nb and type(na) is type(nb):
        return True
    x, y = _number(a), _number(b)
    return x is not None and y is not None and x == y and not isinstance(b, bool)


def compile_condition(rule: ProfileRule) -> Condition:
    set_ = [
        name
        for name, value in (
            ("equals", rule.equals),
            ("in", rule.in_),
            ("range", rule.range),
            ("contains", rule.contains),
            ("exists", rule.exists),
            ("regex", rule.regex),
        )
        if value is not None
    ]
    if len(set_) != 1:
        raise ScoringConfigError(
            "a profile rule needs exactly one of equals, in, range, contains, exists, regex"
            f" (has: {', '.join(set_) or 'none'})"
        )
    if rule.equals is not None:
        expected = rule.equals
        return lambda v: v is not MISSING and _equal(v, expected)
    if rule.in_ is not None:
        options = list(rule.in_)
        return lambda v: v is not MISSING and any(_equal(v, o) for o in options)
    if rule.range is not None:
        low, high = rule.range
        if low > high:
            raise ScoringConfigError(f"range [{low}, {high}]: min is above max")

        def in_range(v: Value) -> bool:
            n = _number(v)
            return n is not None and low <= n <= high

        return in_range
    if rule.contains is not None:
        needle = rule.contains.casefold()
        return lambda v: isinstance(v, str) and needle in v.casefold()
    if rule.exists is not None:
        want = rule.exists
        return lambda v: (v is not MISSING and v is not None and v != "") == want
    assert rule.regex is not None
    try:
        pattern = re.compile(rule.regex, re.IGNORECASE)
    except re.error as exc:
        raise ScoringConfigError(f"regex {rule.regex!r}: {exc}") from None
    return lambda v: v is not MISSING and v is not None and bool(pattern.search(str(v)))

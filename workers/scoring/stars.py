"""Total → 0–5 stars (configured bands, or a share of the ideal score) and optional grades."""

from __future__ import annotations

import math

from workers.rules.model import StarsRule


class StarRater:
    def __init__(self, rule: StarsRule, ideal_cents: int) -> None:
        self.bands = [round(b * 100) for b in rule.bands] if rule.bands else None
        ideal = rule.ideal if rule.ideal is not None else ideal_cents / 100
        self.ideal_cents = max(1, round(ideal * 100))
        self.grades = sorted(((round(v * 100), k) for k, v in rule.grades.items()), reverse=True)
        self._band_floors = sorted(self.bands) if self.bands else []  # n stars from the n-th
        self._grade_floors = {letter: minimum for minimum, letter in self.grades}

    def stars(self, total_cents: int) -> int:
        if self.bands is not None:
            return sum(1 for band in self.bands if total_cents >= band)
        share = total_cents / self.ideal_cents
        return min(5, max(0, math.floor(share * 5 + 1e-9)))

    def grade(self, total_cents: int) -> str | None:
        for minimum, letter in self.grades:
            if total_cents >= minimum:
                return letter
        return None

    def lowest_alike(self, total_cents: int) -> int | None:
        """The lowest total with the stars and the grade of `total_cents` (None: however low):
        each grows with the total, so the lowest is where the higher of their floors is."""
        floors: list[int] = []
        stars = self.stars(total_cents)
        if stars > 0 and self.bands is not None:
            floors.append(self._band_floors[stars - 1])
        elif stars > 0:
            floor = math.ceil((stars - 1e-9) * self.ideal_cents / 5)  # then one cent either way
            while self.stars(floor - 1) >= stars:
                floor -= 1
            while self.stars(floor) < stars:
                floor += 1
            floors.append(floor)
        grade = self.grade(total_cents)
        if grade is not None:
            floors.append(self._grade_floors[grade])
        return max(floors) if floors else None


def next_ready(ready: bool, total_cents: int, threshold_cents: int, hysteresis_cents: int) -> bool:
    """Sales-ready sets at the threshold and clears only below threshold − hysteresis."""
    if ready:
        return total_cents >= threshold_cents - hysteresis_cents
    return total_cents >= threshold_cents

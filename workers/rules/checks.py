"""Checks across fields that a type alone cannot express (unique ids, references)."""

from __future__ import annotations

from workers.rules.model import Rules


def check_rules(rules: Rules, file: str) -> None:
    """Raise RulesError for cross-field problems. Sections add their checks here."""
    del rules, file

from __future__ import annotations


class ScoringConfigError(ValueError):
    """A scoring rule that cannot be used (bad regex, no condition, two conditions)."""

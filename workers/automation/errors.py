from __future__ import annotations


class AutomationConfigError(ValueError):
    """A stage-move rule that cannot be applied (unknown stage, no order to tell forward by)."""

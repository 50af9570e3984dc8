"""What a backtest refuses: bad arguments, an unreachable broker, no history in the window."""

from __future__ import annotations


class BacktestError(RuntimeError):
    """One clear line for the user (the CLI prints it and exits 1)."""

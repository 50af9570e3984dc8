from __future__ import annotations


class DevStackError(RuntimeError):
    """The local stack could not be set up or started; the message says what to do."""

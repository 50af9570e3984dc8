from __future__ import annotations


class TopicError(RuntimeError):
    """A topic exists with a layout the workers cannot use (e.g. another partition count)."""

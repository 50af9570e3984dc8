"""Categorical strings (statuses, stage, pipeline, rep and organization ids, product lines) as
one object per distinct value.

A decoded event's strings are new objects, and a state built from it keeps them for as long as
the state lives: in a backtest's shadow worker, which keeps its states in memory, millions of
copies of a few hundred values, each on its own cache line. Every copy of a state (`replace`)
touches each of its fields (a reference count), and most of those were cold: a buyer action's
copy of an opportunity touched six such strings. Shared, they stay in cache, and a comparison
with the same value is one pointer comparison. Ids that name one record (event, contact,
opportunity ids) are not categorical: interning them only fills the interpreter's table.
"""

from __future__ import annotations

import sys
from typing import overload


@overload
def shared(text: str) -> str: ...
@overload
def shared(text: None) -> None: ...
@overload
def shared(text: str | None) -> str | None: ...
def shared(text: str | None) -> str | None:
    """The one object for this value (`sys.intern`); None as it is."""
    return None if text is None else sys.intern(text)

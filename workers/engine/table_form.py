"""Table values are JSON data or msgspec structs; a struct's field may also hold an object that
knows its own table form (`table_form()`: JSON data), such as a contact's native engagement
ledger. Every encoder of table values goes through here, so such an object is encoded at the
commit like the rest."""

from __future__ import annotations

from typing import Any

import msgspec


def table_form(obj: Any) -> Any:
    """msgspec's `enc_hook`: the object's table form."""
    form = getattr(obj, "table_form", None)
    if form is None:
        raise NotImplementedError(f"a table cannot hold {type(obj).__name__}")
    return form()


encode = msgspec.json.Encoder(enc_hook=table_form).encode


def to_builtins(value: Any) -> Any:
    """The value as JSON data (what the JSON store reads back), without encoding it."""
    return msgspec.to_builtins(value, enc_hook=table_form)

from __future__ import annotations


class RulesError(ValueError):
    """The rules file cannot be used. Names the file, the field (a JSON-style path) and value."""

    def __init__(self, file: str, field: str, value: object, problem: str) -> None:
        self.file = file
        self.field = field
        self.value = value
        self.problem = problem
        shown = repr(value)
        if len(shown) > 120:
            shown = shown[:120] + "…"
        if field == "$" and value is None:  # about the whole file: no field to show
            super().__init__(f"{file}: {problem}")
        else:
            super().__init__(f"{file}: {field} = {shown}: {problem}")

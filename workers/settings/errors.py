from __future__ import annotations


class SettingsError(ValueError):
    """A setting has a value the workers cannot run with. Names the variable and the value."""

    def __init__(self, variable: str, value: str, problem: str) -> None:
        self.variable = variable
        self.value = value
        self.problem = problem
        super().__init__(f"setting {variable}={value!r}: {problem}")

from __future__ import annotations

from pathlib import Path

import pytest

from workers.rules import RulesError
from workers.rules.loader import load_rules, parse_rules
from workers.settings.settings import DEFAULT_RULES


def test_the_default_rules_file_is_valid() -> None:
    assert load_rules(DEFAULT_RULES).version


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("version: ''", "$.version", "''"),
        ("version: x\nsurprise: 3", "$.surprise", "3"),
        ("- 1", "$", "[1]"),
        ("version: [x", "$", "None"),
    ],
)
def test_errors_name_file_field_and_value(text: str, field: str, value: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(text, "team/rules.yaml")
    message = str(info.value)
    assert message.startswith(f"team/rules.yaml: {field} = {value}")
    assert info.value.field == field


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match=r"nope\.yaml"):
        load_rules(tmp_path / "nope.yaml")

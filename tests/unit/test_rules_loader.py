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


TRIGGERS = """
version: 1
triggers:
  - id: remind
    stage: proposal
    every: {every}
    action: {action}
    calendar: {calendar}
  - id: {second_id}
    stage: meeting
    every: 1d
    action: {{type: enroll_campaign}}
"""


@pytest.mark.parametrize(
    ("changes", "field", "value"),
    [
        ({"every": "ten days"}, "$.triggers[0].every", "'ten days'"),
        ({"every": "0s"}, "$.triggers[0].every", "'0s'"),
        ({"action": "{campaign_id: x}"}, "$.triggers[0].action", "{'campaign_id': 'x'}"),
        (
            {"calendar": "{kind: business_days, timezone: Mars/Base}"},
            "$.triggers[0].calendar",
            "'Mars/Base'",
        ),
        ({"calendar": "{kind: lunar}"}, "$.triggers[0].calendar.kind", "'lunar'"),
        ({"second_id": "remind"}, "$.triggers[1].id", "'remind'"),
    ],
)
def test_trigger_errors_name_the_field_and_value(
    changes: dict[str, str], field: str, value: str
) -> None:
    values = {
        "every": "10d",
        "action": "{type: enroll_campaign}",
        "calendar": "{}",
        "second_id": "other",
        **changes,
    }
    with pytest.raises(RulesError) as info:
        parse_rules(TRIGGERS.format(**values), "r.yaml")
    assert str(info.value).startswith(f"r.yaml: {field} = {value}:"), str(info.value)


def test_a_valid_trigger_section() -> None:
    rules = parse_rules(
        TRIGGERS.format(
            every="P10D",
            action="{type: x, campaign_id: c}",
            calendar="{kind: business_days, timezone: Europe/Tallinn, holidays: [2026-12-24]}",
            second_id="b",
        )
    )
    assert [t.id for t in rules.triggers] == ["remind", "b"]
    assert rules.triggers[0].catch_up == "latest"

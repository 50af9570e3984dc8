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
    ],
)
def test_errors_name_file_field_and_value(text: str, field: str, value: str) -> None:
    with pytest.raises(RulesError) as info:
        parse_rules(text, "team/rules.yaml")
    message = str(info.value)
    assert message.startswith(f"team/rules.yaml: {field} = {value}")
    assert info.value.field == field


def test_a_yaml_syntax_error_is_one_line_with_its_place() -> None:
    with pytest.raises(RulesError) as info:
        parse_rules("version: x\n  bad: : yaml\n", "team/rules.yaml")
    assert str(info.value) == (
        "team/rules.yaml: not valid YAML at line 2, column 6: mapping values are not allowed here"
    )


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as info:
        load_rules(tmp_path / "nope.yaml")
    assert (
        str(info.value) == f"{tmp_path}/nope.yaml: cannot read the file: No such file or directory"
    )


DEFAULT = DEFAULT_RULES.read_text()


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ("stage: proposal\n    every: 10d", "stage: propsal\n    every: 10d",
         "$.triggers[0].stage = 'propsal': no such stage in any pipeline (known: closing, contact, "
         "meeting, proposal, qualification, retention); did you mean `proposal`?"),
        ('pipeline: "*"\n    stage: proposal', "pipeline: sals\n    stage: proposal",
         "$.triggers[0].pipeline = 'sals': no such pipeline (known: sales); did you mean `sales`?"),
        ("move_to: proposal", "move_to: nowhere",
         "$.triggers[4].action.move_to = 'nowhere': no such stage in any pipeline"),
        ("when: trial_completed, pipeline: sales", "when: trial_completed, pipeline: sals",
         "$.automation.stage_moves[2].pipeline = 'sals': no such pipeline"),
        ("from: [contact, qualification]", "from: [contact, qualificaton]",
         "$.automation.stage_moves[0].from[1] = 'qualificaton': no such stage in pipeline sales"),
        ("to: closing", "to: clsoing", "$.automation.stage_moves[2].to = 'clsoing'"),
        ("when: demo_request,", "when: demo_requst,",
         "$.automation.stage_moves[0].when = 'demo_requst': not an engagement kind of the contract"),
        ("when: [quote_request, sample_order]", "when: [quote_request, sample_ordr]",
         "$.automation.stage_moves[1].when[1] = 'sample_ordr'"),
        ("kind: demo_request, points: 25", "kind: demo_requst, points: 25",
         "$.scoring.engagement.rules[4].kind = 'demo_requst': not an engagement kind of the "
         "contract nor of `engagement_kinds` (where a kind your CRM sends beyond the contract's "
         "is declared); did you mean `demo_request`?"),
        ("won_stages: [retention]", "won_stages: [retension]",
         "$.pipelines[0].won_stages[0] = 'retension': no such stage in pipeline sales"),
        ("threshold: 60", "threshold: 600",
         "$.scoring.sales_ready.threshold = 600.0: no contact can reach it: the highest reachable "
         "score is 180 (profile 65 + organization 35 + engagement max_total 80)"),
        ("erp: {policy: load_balanced", "erp: {policy: load_balancd",
         "$.routing.product_lines.erp.policy = 'load_balancd': not a valid choice: one of "
         "load_balanced, relationship_owner, round_robin, weighted; did you mean `load_balanced`?"),
        ("erp: {policy: load_balanced, sla: 8h}", "erp: {policy: load_balanced, sla: 8h, sla_clok: calendar}",
         "$.routing.product_lines.erp.sla_clok = 'calendar': is not a known field; did you mean "
         "`sla_clock`?"),
        ("erp: {policy: load_balanced, sla: 8h}", "erp: {policy: load_balanced, all_passed: escalate}",
         "$.routing.product_lines.erp.escalate_to = None: `all_passed: escalate` needs a rep id"),
        ("catch_up: latest", "catch_up: lates", "$.triggers[0].catch_up = 'lates': not a valid "
         "choice: one of all, latest, none; did you mean `latest`?"),
        ("kind: list_signup, points: 5}", "kind: list_signup, points: 5, product_line: erpp}",
         "$.scoring.engagement.rules[3].product_line = 'erpp': no such product line in "
         "routing.product_lines (known: analytics, crm, erp); did you mean `erp`?"),
    ],
)  # fmt: skip
def test_every_reference_is_checked_with_a_close_name(
    before: str, after: str, message: str
) -> None:
    """Issue 14.3: each of these was `ok` before."""
    assert before in DEFAULT
    with pytest.raises(RulesError) as info:
        parse_rules(DEFAULT.replace(before, after, 1), "rules.yaml")
    assert str(info.value).startswith(f"rules.yaml: {message}")


def test_a_kind_the_file_declares_is_accepted_and_an_unlisted_line_far_from_all_is_too() -> None:
    text = DEFAULT.replace(
        "kind: list_signup, points: 5}", "kind: webinar_attended, points: 5, product_line: iot}"
    )
    with pytest.raises(RulesError, match="webinar_attended"):
        parse_rules(text)
    rules = parse_rules("engagement_kinds: [webinar_attended]\n" + text)
    assert "webinar_attended" in rules.engagement_kinds


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

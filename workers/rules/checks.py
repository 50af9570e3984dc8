"""Checks across fields that a type alone cannot express (unique ids, durations, calendars)."""

from __future__ import annotations

from workers.automation.errors import AutomationConfigError
from workers.automation.stage_moves import compile_rule
from workers.rules.errors import RulesError
from workers.rules.model import Rules
from workers.rules.references import check_references
from workers.scoring.conditions import compile_condition
from workers.scoring.engagement import CAP_ID
from workers.scoring.errors import ScoringConfigError
from workers.scoring.profile import ProfileScorer
from workers.triggers.durations import parse_duration
from workers.triggers.errors import TriggerConfigError
from workers.triggers.plan import compile_trigger


def check_rules(rules: Rules, file: str) -> None:
    """Raise RulesError for cross-field problems."""
    _check_scoring(rules, file)
    check_references(rules, file)
    _check_automation(rules, file)
    for name in ("tick_interval", "catch_up_grace", "backlog_hold", "allowed_lateness"):
        value = getattr(rules.scheduler, name)
        try:
            parse_duration(value, zero=name == "allowed_lateness")
        except TriggerConfigError as exc:
            raise RulesError(file, f"$.scheduler.{name}", value, str(exc)) from None
    seen: set[str] = set()
    for i, trigger in enumerate(rules.triggers):
        if trigger.id in seen:
            raise RulesError(file, f"$.triggers[{i}].id", trigger.id, "trigger ids must be unique")
        seen.add(trigger.id)
        try:
            parse_duration(trigger.every)
        except TriggerConfigError as exc:
            raise RulesError(file, f"$.triggers[{i}].every", trigger.every, str(exc)) from None
        try:
            compile_trigger(trigger)
        except TriggerConfigError as exc:
            cal = trigger.calendar
            raise RulesError(file, f"$.triggers[{i}].calendar", cal.timezone, str(exc)) from None
        if "type" not in trigger.action:
            raise RulesError(
                file, f"$.triggers[{i}].action", trigger.action, "an action needs a `type`"
            )


def _check_scoring(rules: Rules, file: str) -> None:
    scoring = rules.scoring
    seen: set[str] = {CAP_ID}
    profile = [("contact", r) for r in scoring.profile.contact]
    profile += [("organization", r) for r in scoring.profile.organization]
    for i, (section, rule) in enumerate(profile):
        index = i if section == "contact" else i - len(scoring.profile.contact)
        where = f"$.scoring.profile.{section}[{index}]"
        if rule.id in seen:
            raise RulesError(file, f"{where}.id", rule.id, "scoring rule ids must be unique")
        seen.add(rule.id)
        try:
            compile_condition(rule)
        except ScoringConfigError as exc:
            raise RulesError(file, where, rule.id, str(exc)) from None
    for i, engagement in enumerate(scoring.engagement.rules):
        where = f"$.scoring.engagement.rules[{i}]"
        if engagement.id in seen:
            raise RulesError(file, f"{where}.id", engagement.id, "scoring rule ids must be unique")
        seen.add(engagement.id)
        if engagement.cap is not None:
            _duration(file, f"{where}.cap.per", engagement.cap.per)
    _duration(file, "$.scoring.engagement.decay.period", scoring.engagement.decay.period)
    _duration(file, "$.scoring.rescore_interval", scoring.rescore_interval)
    stars = scoring.stars
    if (stars.bands is None) == (stars.ideal is None):
        raise RulesError(file, "$.scoring.stars", None, "give either bands or ideal (not both)")
    if stars.bands is not None and stars.bands != sorted(stars.bands):
        raise RulesError(file, "$.scoring.stars.bands", stars.bands, "bands must be ascending")
    _check_threshold(rules, file)


def _check_threshold(rules: Rules, file: str) -> None:
    """The sales-ready threshold must be reachable by the best possible contact."""
    scoring = rules.scoring
    if not (scoring.profile.contact or scoring.profile.organization or scoring.engagement.rules):
        return  # no scoring rules: nobody is scored, no threshold to reach
    contact = ProfileScorer(scoring.profile.contact).best_possible() / 100
    organization = ProfileScorer(scoring.profile.organization).best_possible() / 100
    engagement = scoring.engagement
    if engagement.max_total is not None:
        cap, how = engagement.max_total, f"engagement max_total {engagement.max_total:g}"
    elif any(r.points > 0 for r in engagement.rules):
        return  # engagement without a total cap: any threshold can be reached
    else:
        cap, how = 0.0, "no engagement points"
    best = contact + organization + cap
    threshold = scoring.sales_ready.threshold
    if threshold > best:
        raise RulesError(
            file,
            "$.scoring.sales_ready.threshold",
            threshold,
            f"no contact can reach it: the highest reachable score is {best:g} "
            f"(profile {contact:g} + organization {organization:g} + {how})",
        )


def _check_automation(rules: Rules, file: str) -> None:
    order = {p.id: {s.id: i for i, s in enumerate(p.stages)} for p in rules.pipelines}
    seen: set[str] = set()
    for i, rule in enumerate(rules.automation.stage_moves):
        where = f"$.automation.stage_moves[{i}]"
        if rule.id in seen:
            raise RulesError(file, f"{where}.id", rule.id, "stage move rule ids must be unique")
        seen.add(rule.id)
        try:
            compile_rule(rule, order)
        except AutomationConfigError as exc:
            raise RulesError(file, where, rule.id, str(exc)) from None
    before = rules.notifications.sla_warning_before
    if before is not None:
        _duration(file, "$.notifications.sla_warning_before", before)


def _duration(file: str, field: str, value: str) -> None:
    try:
        parse_duration(value)
    except TriggerConfigError as exc:
        raise RulesError(file, field, value, str(exc)) from None

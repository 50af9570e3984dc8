"""Every name a rules file refers to must exist: pipelines, stages, engagement kinds, product
lines, and a sales-ready threshold a contact can reach. A wrong name is reported with the
closest valid one ("did you mean `proposal`?")."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from schemas.catalog import ENGAGEMENT_KINDS
from workers.rules.errors import RulesError
from workers.rules.model import Rules

ANY = "*"
FORM_SUBMITTED = "form_submitted"  # what a form submission counts as in engagement rules


def did_you_mean(value: str, valid: Iterable[str]) -> str:
    """`; did you mean `x`?` for the closest valid name, or "" when none is close."""
    close = difflib.get_close_matches(value, sorted(set(valid)), n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def unknown(file: str, path: str, value: str, what: str, valid: Sequence[str]) -> RulesError:
    shown = ", ".join(sorted(set(valid))[:12]) or "none defined"
    return RulesError(
        file, path, value, f"no such {what} (known: {shown}){did_you_mean(value, valid)}"
    )


def check_references(rules: Rules, file: str) -> None:
    """Raise RulesError for the first name that refers to nothing."""
    _check_pipelines(rules, file)
    _check_triggers(rules, file)
    _check_stage_moves(rules, file)
    _check_kinds(rules, file)
    _check_product_lines(rules, file)
    _check_routing(rules, file)


def engagement_kinds(rules: Rules) -> list[str]:
    """The contract's engagement kinds plus the ones the file declares for its CRM."""
    return [*ENGAGEMENT_KINDS, *rules.engagement_kinds]


def _stages(rules: Rules, pipeline: str) -> list[str]:
    if pipeline == ANY:
        return [s.id for p in rules.pipelines for s in p.stages]
    return [s.id for p in rules.pipelines if p.id == pipeline for s in p.stages]


def _check_pipelines(rules: Rules, file: str) -> None:
    seen: set[str] = set()
    for i, pipeline in enumerate(rules.pipelines):
        where = f"$.pipelines[{i}]"
        if pipeline.id in seen:
            raise RulesError(file, f"{where}.id", pipeline.id, "pipeline ids must be unique")
        seen.add(pipeline.id)
        ids = [s.id for s in pipeline.stages]
        if not ids:
            raise RulesError(file, f"{where}.stages", [], "a pipeline needs at least one stage")
        for j, stage in enumerate(ids):
            if stage in ids[:j]:
                raise RulesError(file, f"{where}.stages[{j}].id", stage, "stage ids repeat")
        for name in ("won_stages", "lost_stages"):
            for j, stage in enumerate(getattr(pipeline, name)):
                if stage not in ids:
                    raise unknown(
                        file, f"{where}.{name}[{j}]", stage, f"stage in pipeline {pipeline.id}", ids
                    )


def _check_pipeline_ref(rules: Rules, file: str, path: str, pipeline: str) -> None:
    ids = [p.id for p in rules.pipelines]
    if pipeline != ANY and rules.pipelines and pipeline not in ids:
        raise unknown(file, path, pipeline, "pipeline", ids)


def _check_stage_ref(rules: Rules, file: str, path: str, pipeline: str, stage: str) -> None:
    if not rules.pipelines or stage == ANY:
        return  # no pipelines listed: stages come from the CRM as they are
    stages = _stages(rules, pipeline)
    if stage not in stages:
        what = "stage in any pipeline" if pipeline == ANY else f"stage in pipeline {pipeline}"
        raise unknown(file, path, stage, what, stages)


def _check_triggers(rules: Rules, file: str) -> None:
    for i, trigger in enumerate(rules.triggers):
        where = f"$.triggers[{i}]"
        _check_pipeline_ref(rules, file, f"{where}.pipeline", trigger.pipeline)
        _check_stage_ref(rules, file, f"{where}.stage", trigger.pipeline, trigger.stage)
        move_to = trigger.action.get("move_to")
        if move_to is not None:
            if not isinstance(move_to, str) or not move_to:
                raise RulesError(file, f"{where}.action.move_to", move_to, "must be a stage id")
            _check_stage_ref(rules, file, f"{where}.action.move_to", trigger.pipeline, move_to)


def _check_stage_moves(rules: Rules, file: str) -> None:
    for i, rule in enumerate(rules.automation.stage_moves):
        where = f"$.automation.stage_moves[{i}]"
        _check_pipeline_ref(rules, file, f"{where}.pipeline", rule.pipeline)
        _check_stage_ref(rules, file, f"{where}.to", rule.pipeline, rule.to)
        for j, stage in enumerate(rule.from_):
            _check_stage_ref(rules, file, f"{where}.from[{j}]", rule.pipeline, stage)


def _check_kinds(rules: Rules, file: str) -> None:
    kinds = engagement_kinds(rules)
    for i, rule in enumerate(rules.scoring.engagement.rules):
        if rule.kind not in kinds and rule.kind != FORM_SUBMITTED:
            path = f"$.scoring.engagement.rules[{i}].kind"
            raise _unknown_kind(file, path, rule.kind, [*kinds, FORM_SUBMITTED])
    for i, move in enumerate(rules.automation.stage_moves):
        whens = [move.when] if isinstance(move.when, str) else list(move.when)
        for j, kind in enumerate(whens):
            if kind not in kinds:
                path = f"$.automation.stage_moves[{i}].when"
                raise _unknown_kind(
                    file, path if isinstance(move.when, str) else f"{path}[{j}]", kind, kinds
                )


def _unknown_kind(file: str, path: str, kind: str, valid: list[str]) -> RulesError:
    return RulesError(
        file,
        path,
        kind,
        "not an engagement kind of the contract nor of `engagement_kinds` (where a kind your "
        f"CRM sends beyond the contract's is declared){did_you_mean(kind, valid)}",
    )


def _check_product_lines(rules: Rules, file: str) -> None:
    """A product line close to, but not one of, the lines the routing section lists is a typo.
    (A name unlike all of them may be a line on the default policy, and is accepted.)"""
    lines = list(rules.routing.product_lines)
    if not lines:
        return
    named = [
        (f"$.scoring.engagement.rules[{i}].product_line", r.product_line)
        for i, r in enumerate(rules.scoring.engagement.rules)
    ] + [
        (f"$.automation.stage_moves[{i}].product_line", m.product_line)
        for i, m in enumerate(rules.automation.stage_moves)
    ]
    for path, line in named:
        if line is not None and line not in lines and did_you_mean(line, lines):
            raise unknown(file, path, line, "product line in routing.product_lines", lines)


def _check_routing(rules: Rules, file: str) -> None:
    policies = [("$.routing.default", rules.routing.default)]
    policies += [
        (f"$.routing.product_lines.{k}", p) for k, p in rules.routing.product_lines.items()
    ]
    for path, policy in policies:
        if policy.all_passed == "escalate" and not policy.escalate_to:
            raise RulesError(
                file, f"{path}.escalate_to", None, "`all_passed: escalate` needs a rep id here"
            )

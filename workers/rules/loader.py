"""Load and validate the rules file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import yaml

from workers.rules.checks import check_rules
from workers.rules.errors import RulesError
from workers.rules.model import Rules

_AT = re.compile(r" - at `(?P<path>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`")


def load_rules(path: Path) -> Rules:
    """Read and validate a rules file; raise RulesError naming file, field and value."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(str(path), "$", None, f"cannot read the file: {exc.strerror}") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, file: str = "<rules>") -> Rules:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(file, "$", None, f"not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RulesError(file, "$", raw, "the rules file must be a mapping")
    if isinstance(raw.get("version"), int | float) and not isinstance(raw["version"], bool):
        raw["version"] = str(raw["version"])  # `version: 3` means "3"
    try:
        rules = msgspec.convert(raw, Rules, strict=False)
    except msgspec.ValidationError as exc:
        raise _explain(file, raw, str(exc)) from None
    check_rules(rules, file)
    return rules


def _explain(file: str, raw: dict[str, Any], message: str) -> RulesError:
    at = _AT.search(message)
    path = at.group("path") if at else "$"
    text = message[: at.start()] if at else message
    missing = _MISSING.match(text)
    if missing:
        return RulesError(file, f"{path}.{missing.group('field')}", None, "is required")
    unknown = _UNKNOWN.match(text)
    if unknown:
        field = f"{path}.{unknown.group('field')}"
        return RulesError(file, field, _value_at(raw, field), "is not a known field")
    return RulesError(file, path, _value_at(raw, path), text)


def _value_at(raw: Any, path: str) -> Any:
    """Follow `$.a.b[0].c` through the raw YAML data; None if it is not there."""
    node = raw
    for part in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        key, index = part
        try:
            node = node[int(index)] if index else node[key]
        except (KeyError, IndexError, TypeError):
            return None
    return node

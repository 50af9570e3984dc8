"""Load and validate the rules file."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import msgspec
import msgspec.inspect as mi
import yaml

from workers.rules.checks import check_rules
from workers.rules.errors import RulesError
from workers.rules.model import Rules
from workers.rules.references import did_you_mean

_AT = re.compile(r" - at `(?P<path>[^`]+)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`")
_ENUM = re.compile(r"^Invalid enum value ")


def load_rules(path: Path) -> Rules:
    """Read and validate a rules file; raise RulesError naming file, field and value."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(str(path), "$", None, f"cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise RulesError(str(path), "$", None, "not a UTF-8 text file") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, file: str = "<rules>") -> Rules:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(file, "$", None, _yaml_problem(exc)) from None
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


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: where the YAML breaks and why."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is None:
        return f"not valid YAML: {problem}"
    return f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _explain(file: str, raw: dict[str, Any], message: str) -> RulesError:
    at = _AT.search(message)
    path = _concrete_path(raw, at.group("path")) if at else "$"
    text = message[: at.start()] if at else message
    enum = _ENUM.match(text)
    if enum:
        value = _value_at(raw, path)
        choices = _choices(path)
        listed = f": one of {', '.join(choices)}" if choices else ""
        hint = did_you_mean(str(value), choices) if choices else ""
        return RulesError(file, path, value, f"not a valid choice{listed}{hint}")
    missing = _MISSING.match(text)
    if missing:
        return RulesError(file, f"{path}.{missing.group('field')}", None, "is required")
    unknown = _UNKNOWN.match(text)
    if unknown:
        field = f"{path}.{unknown.group('field')}"
        parent = _type_at(path)
        names = [f.encode_name for f in parent.fields] if isinstance(parent, mi.StructType) else []
        hint = did_you_mean(unknown.group("field"), names)
        return RulesError(file, field, _value_at(raw, field), f"is not a known field{hint}")
    return RulesError(file, path, _value_at(raw, path), text)


def _concrete_path(raw: Any, path: str) -> str:
    """msgspec writes `[...]` for a mapping's key: put the key that holds the bad value there
    (the first key whose value leads somewhere along the rest of the path)."""
    if "[...]" not in path:
        return path
    head, tail = path.split("[...]", 1)
    node = _value_at(raw, head)
    if not isinstance(node, dict):
        return path
    candidates = [f"{head}.{key}{tail}" for key in node]
    for candidate in candidates:
        resolved = _concrete_path(raw, candidate)
        if _value_at(raw, resolved) is not None and not _is_valid(resolved, raw):
            return resolved
    return _concrete_path(raw, candidates[0]) if candidates else path


def _is_valid(path: str, raw: Any) -> bool:
    """Does the value at `path` convert to the model's type at that path?"""
    kind = _type_at(path)
    if kind is None:
        return False
    try:
        msgspec.convert(_value_at(raw, path), _python_type(kind), strict=False)
    except (msgspec.ValidationError, TypeError):
        return False
    return True


def _type_at(path: str) -> mi.Type | None:
    """The model's type at a path like `$.routing.product_lines.erp.policy`."""
    node: mi.Type = mi.type_info(Rules)
    for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", path):
        while isinstance(node, mi.UnionType):  # X | None: the X
            rest = [t for t in node.types if not isinstance(t, mi.NoneType)]
            node = rest[0] if rest else node
            if len(rest) != 1:
                break
        if isinstance(node, mi.StructType) and key:
            found = [f.type for f in node.fields if key in (f.encode_name, f.name)]
            if not found:
                return None
            node = found[0]
        elif isinstance(node, mi.DictType) and key:
            node = node.value_type
        elif isinstance(node, mi.ListType) and index:
            node = node.item_type
        else:
            return None
    return node


def _python_type(kind: mi.Type) -> Any:
    if isinstance(kind, mi.LiteralType):
        return Literal[tuple(kind.values)]
    if isinstance(kind, mi.StructType):
        return kind.cls
    return Any


def _choices(path: str) -> list[str]:
    kind = _type_at(path)
    if isinstance(kind, mi.UnionType):
        kind = next((t for t in kind.types if isinstance(t, mi.LiteralType)), kind)
    return [str(v) for v in kind.values] if isinstance(kind, mi.LiteralType) else []


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

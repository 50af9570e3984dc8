"""The rules file: one YAML file, validated at start-up; errors name file, field and value."""

from workers.rules.errors import RulesError
from workers.rules.loader import load_rules, parse_rules
from workers.rules.model import Rules

__all__ = ["Rules", "RulesError", "load_rules", "parse_rules"]

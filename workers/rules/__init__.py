"""The rules file: one YAML file, validated at start-up; errors name file, field and value.

Load it with `workers.rules.loader.load_rules`; the model is `workers.rules.model.Rules`.
"""

from workers.rules.errors import RulesError
from workers.rules.model import Rules

__all__ = ["Rules", "RulesError"]

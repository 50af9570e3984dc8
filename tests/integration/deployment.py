"""A test's deployment: its rules file, its settings, its topics created."""

from __future__ import annotations

import asyncio
from pathlib import Path

from workers.settings import Settings
from workers.topics.admin import create_topics


def deploy(
    worker_env: dict[str, str], tmp_path: Path, rules: str
) -> tuple[dict[str, str], Settings]:
    path = tmp_path / "rules.yaml"
    path.write_text(rules)
    env = {**worker_env, "DEALSTREAM_RULES_FILE": str(path)}
    settings = Settings.from_env(env)
    asyncio.run(create_topics(settings))
    return env, settings

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from workers.rules.diff import diff_rules
from workers.rules.loader import parse_rules

OLD = """
version: 1
triggers:
  - {id: a, stage: s, every: 10d, action: {type: x}}
  - {id: b, stage: s, every: 1d, action: {type: x}}
  - {id: c, stage: s, every: 1d, action: {type: x}}
"""
NEW = """
version: 2
triggers:
  - {id: a, stage: s, every: 5d, action: {type: x}}
  - {id: b, stage: s, every: 1d, action: {type: x}, active: false}
  - {id: d, stage: t, every: 2h, action: {type: x}}
scoring:
  sales_ready: {threshold: 50}
"""


def test_diff_names_triggers_added_removed_changed_and_the_rescore() -> None:
    lines = diff_rules(parse_rules(OLD), parse_rules(NEW))
    assert lines[0] == "version 1 → 2"
    assert "trigger d added: every 2h in */t" in lines
    assert "trigger c removed: pending periods will not fire" in lines
    assert any(line.startswith("trigger a changed: every (re-planned") for line in lines)
    assert "trigger b changed: active (deactivated: no more firings)" in lines
    assert any(
        line.startswith("scoring rules changed: every stored contact is re-scored")
        for line in lines
    )
    assert diff_rules(parse_rules(OLD), parse_rules(OLD)) == ["no change"]


def test_the_command(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text(OLD)
    (tmp_path / "new.yaml").write_text(NEW)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "workers.cli.main",
            "rules",
            "diff",
            str(tmp_path / "old.yaml"),
            str(tmp_path / "new.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "trigger c removed" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "workers.cli.main", "rules", "check", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "nope.yaml" in bad.stderr


def test_stage_move_rules_in_the_diff() -> None:
    from workers.rules.diff import diff_rules
    from workers.rules.loader import parse_rules

    rule = "automation: {{stage_moves: [{{id: {id}, when: {kind}, from: [q], to: {to}}}]}}"
    old = parse_rules("version: a\n" + rule.format(id="m1", kind="demo_request", to="m"))
    new = parse_rules("version: b\n" + rule.format(id="m2", kind="quote_request", to="p"))
    lines = diff_rules(old, new)
    assert "stage move m2 added: quote_request → p" in lines
    assert "stage move m1 removed" in lines

"""No feature's runtime imports another's (workers/runtime/*_agents.py): features meet only in
the wiring (workers/runtime/app.py), through the Protocols of workers/interfaces.py and the
topic names of workers/topics/internal.py."""

from __future__ import annotations

import ast
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[2] / "workers" / "runtime"


def test_no_feature_runtime_imports_another() -> None:
    features = {p.stem for p in RUNTIME.glob("*_agents.py")}
    assert len(features) >= 6  # triggers, moves, scoring, organizations, owners, router, ingest
    found = []
    for name in sorted(features):
        tree = ast.parse((RUNTIME / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                other = node.module.rsplit(".", 1)[-1]
                if node.module.startswith("workers.runtime.") and other in features - {name}:
                    found.append(f"{name} imports {other}")
    assert not found, found

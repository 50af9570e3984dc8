"""What changes between two rules files: for `dealstream rules diff OLD NEW`."""

from __future__ import annotations

import msgspec

from workers.rules.model import Rules


def diff_rules(old: Rules, new: Rules) -> list[str]:
    """Plain sentences, one per change, in the order of the file's sections."""
    out: list[str] = []
    if old.version != new.version:
        out.append(f"version {old.version} → {new.version}")
    before = {t.id: t for t in old.triggers}
    after = {t.id: t for t in new.triggers}
    for trigger_id in sorted(after.keys() - before.keys()):
        t = after[trigger_id]
        out.append(f"trigger {trigger_id} added: every {t.every} in {t.pipeline}/{t.stage}")
    for trigger_id in sorted(before.keys() - after.keys()):
        out.append(f"trigger {trigger_id} removed: pending periods will not fire")
    for trigger_id in sorted(before.keys() & after.keys()):
        a, b = before[trigger_id], after[trigger_id]
        if a == b:
            continue
        changed = [
            f.name for f in msgspec.structs.fields(a) if getattr(a, f.name) != getattr(b, f.name)
        ]
        note = ""
        if "every" in changed or "calendar" in changed:
            note = " (re-planned from each visit's start; nothing already fired fires again)"
        if a.active and not b.active:
            note = " (deactivated: no more firings)"
        out.append(f"trigger {trigger_id} changed: {', '.join(changed)}{note}")
    if old.scoring != new.scoring:
        out.append(
            "scoring rules changed: every stored contact is re-scored once after restart, in "
            "the background; only contacts whose score changes are published"
        )
    elif old.version != new.version:
        out.append("scoring rules unchanged: contacts are re-scored, none should be published")
    moves_before = {r.id: r for r in old.automation.stage_moves}
    moves_after = {r.id: r for r in new.automation.stage_moves}
    for rule_id in sorted(moves_after.keys() - moves_before.keys()):
        r = moves_after[rule_id]
        out.append(f"stage move {rule_id} added: {r.when} → {r.to}")
    for rule_id in sorted(moves_before.keys() - moves_after.keys()):
        out.append(f"stage move {rule_id} removed")
    for rule_id in sorted(moves_before.keys() & moves_after.keys()):
        if moves_before[rule_id] != moves_after[rule_id]:
            out.append(f"stage move {rule_id} changed")
    for section in ("routing", "notifications", "owner_sync", "pipelines", "analytics",
                    "scheduler"):  # fmt: skip
        if getattr(old, section) != getattr(new, section):
            out.append(f"{section} changed")
    return out or ["no change"]

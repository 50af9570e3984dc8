"""Rendering the demo's view to a string at a terminal size, and checking it fits and cuts no
id: shared by the unit test (a made-up feed) and the demo's integration test (its last view)."""

from __future__ import annotations

import io
import re
from collections.abc import Collection

from rich.console import Console

from workers.demo.feed import Feed
from workers.demo.view import render_feed


def screen(feed: Feed, width: int, height: int) -> str:
    out = io.StringIO()
    console = Console(file=out, width=width, height=height, color_system=None)
    console.print(render_feed(feed, width, height))
    return out.getvalue()


def assert_fits_whole(text: str, width: int, height: int, ids: Collection[str],
                      words: Collection[str] = ()) -> None:  # fmt: skip
    """At most `height` lines of at most `width` columns, nothing shortened with "…", and no
    token that is a strict prefix of an id in `ids` (an id cut by a column), unless the token
    is itself an id or one of the plain `words` the view shows."""
    lines = text.rstrip("\n").split("\n")
    assert len(lines) <= height, f"{len(lines)} lines on a {height}-line terminal:\n{text}"
    assert max(len(line) for line in lines) <= width, text
    assert "…" not in text, text
    known = set(ids) | set(words)
    for token in re.split(r"[\s,:]+", text):
        cut = [i for i in ids if 3 <= len(token) < len(i) and i.startswith(token)]
        assert token in known or not cut, (token, cut, text)


def feed_ids(feed: Feed) -> set[str]:
    """Every id the view may show: triggers, opportunities, stages, contacts, reps, rules, and
    the opportunities and stages of the stage moves."""
    ids: set[str] = set()
    for f in feed.firings:
        ids |= {str(f.get("trigger_id")), str(f.get("opportunity_id")), str(f.get("stage_id"))}
    for lead in feed.leads:
        ids.add(str(lead.get("contact_id")))
        ids |= {str(b.get("rule_id")) for b in lead.get("breakdown") or []}
    for m in feed.moves:
        ids |= {str(m.get(k)) for k in ("opportunity_id", "from_stage_id", "to_stage_id")}
    ids |= set(feed.assigned_to)
    for p in feed.pipelines.get("pipelines", []):
        ids |= {str(s.get("stage")) for s in p.get("stages", [])}
    return ids

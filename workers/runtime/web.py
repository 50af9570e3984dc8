"""HTTP endpoints on Faust's web server: /metrics, /healthz, /readyz."""

from __future__ import annotations

from typing import Any

import orjson

from workers.runtime.consumer_metrics import restore_progress
from workers.runtime.context import AppContext

PROMETHEUS = "text/plain; version=0.0.4"


def is_ready(app: Any) -> bool:
    """Ready when table recovery has completed and no rebalance is under way."""
    recovery = app.tables.recovery
    return bool(recovery.completed.is_set() and not app.rebalancing and not recovery.in_recovery)


def register_web(ctx: AppContext) -> None:
    app = ctx.app

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        ctx.metrics.ready.set(1 if is_ready(app) else 0)
        return web.bytes(await ctx.metrics.render_async(), content_type=PROMETHEUS)

    @app.page("/healthz")
    async def healthz(web: Any, request: Any) -> Any:
        return _json(web, {"status": "ok", "rules_version": ctx.rules.version}, 200)

    @app.page("/leads")
    async def leads(web: Any, request: Any) -> Any:
        q = request.query
        try:
            found = await ctx.view.query(
                min_score=float(q.get("min_score", "-inf")),
                owner=q.get("owner"),
                product_line=q.get("product_line"),
                ready=q.get("ready", "false").lower() in ("1", "true", "yes"),
                limit=min(int(q.get("limit", "100")), 1000),
            )
        except ValueError as exc:
            return _json(web, {"error": str(exc)}, 400)
        except Exception as exc:
            return _json(web, {"error": f"Redis view unavailable: {exc}"}, 503)
        return _json(web, {"leads": found}, 200)

    @app.page("/pipelines")
    async def pipelines(web: Any, request: Any) -> Any:
        return _json(web, await ctx.pipelines(), 200)

    @app.page("/readyz")
    async def readyz(web: Any, request: Any) -> Any:
        ready = is_ready(app)
        if ready:
            return _json(web, {"ready": True}, 200)
        body: dict[str, Any] = {"ready": False}
        if app.tables.recovery.in_recovery:
            body["restoring"] = restore_progress(app.tables.recovery)
        return _json(web, body, 503)


def _json(web: Any, body: dict[str, Any], status: int) -> Any:
    return web.bytes(orjson.dumps(body), content_type="application/json", status=status)

"""The commands behind `dealstream dev`, `topics` and `publish`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import orjson

from workers.devstack import LocalStack
from workers.publish.prepare import LineError, Prepared, UnknownTopic, prepare
from workers.publish.send import send_all
from workers.serving.redis_view import RedisLeadView
from workers.settings import Settings
from workers.topics.admin import create_topics
from workers.topics.plan import planned_topics


def dev(action: str, workdir: Path) -> int:
    workdir = workdir.resolve()
    existing = LocalStack.load(workdir)
    if action == "status":
        if existing and existing.running():
            _print_env(existing)
            return 0
        print("local stack: not running")
        return 1
    if action == "down":
        if existing is None:
            print("local stack: not running")
            return 0
        existing.stop()
        print("local stack: stopped")
        return 0
    if existing and existing.running():
        print("local stack: already running")
        _print_env(existing)
        return 0
    if existing:
        existing.stop()
    stack = LocalStack.create(workdir, detached=True)
    stack.start()
    print("local stack: up (stop it with `dealstream dev down`)")
    _print_env(stack)
    return 0


def _print_env(stack: LocalStack) -> None:
    print(f"  Kafka bootstrap: {stack.kafka.bootstrap}")
    print(f"  Redis URL:       {stack.redis.url}")
    print(f"  environment:     {stack.workdir / 'env'}")
    for key, value in stack.env().items():
        print(f"export {key}={value}")


async def topics(settings: Settings, action: str) -> int:
    if action == "list":
        for spec in planned_topics(settings):
            config = ",".join(f"{k}={v}" for k, v in spec.config)
            layout = f"partitions={spec.partitions} rf={spec.replication_factor}"
            print(f"{spec.name:<32} {layout} {config}")
        return 0
    report = await create_topics(settings)
    for name in report.created:
        print(f"created  {name}")
    for name in report.existing:
        print(f"exists   {name}")
    return 0


def publish(settings: Settings, topic: str, file: Path, *, dry_run: bool) -> int:
    try:
        lines = sys.stdin.buffer.read().splitlines() if str(file) == "-" else _read(file)
        results = prepare(topic, lines)
    except UnknownTopic as exc:
        print(f"dealstream publish: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"dealstream publish: {file}: {exc.strerror}", file=sys.stderr)
        return 2
    good = [r for r in results if isinstance(r, Prepared)]
    bad = [r for r in results if isinstance(r, LineError)]
    for error in bad:
        print(f"{file}: {error}", file=sys.stderr)
    sent = 0 if dry_run or not good else asyncio.run(send_all(settings, topic, good))
    verb = "valid" if dry_run else "sent"
    print(f"{verb} {len(good) if dry_run else sent}, rejected {len(bad)}")
    return 1 if bad else 0


def _read(file: Path) -> list[bytes]:
    return file.read_bytes().splitlines()


async def leads(settings: Settings, args: argparse.Namespace) -> int:
    """Answer from Redis: the list view of source 001 (leads whose score is over X)."""
    view = RedisLeadView(settings.redis_url, settings.app_id)
    try:
        found = await view.query(
            min_score=args.min_score,
            owner=args.owner,
            product_line=args.product_line,
            ready=args.ready,
            limit=args.limit,
        )
    finally:
        await view.client.aclose()
    for lead in found:
        if args.json:
            print(orjson.dumps(lead).decode())
            continue
        why = ", ".join(f"{b['rule_id']} {b['points']:+g}" for b in lead["breakdown"])
        stars = "★" * lead["stars"] + "☆" * (5 - lead["stars"])
        ready = "sales-ready" if lead["sales_ready"] else ""
        owner = lead.get("owner_id") or "-"
        print(
            f"{lead['contact_id']:<16} {lead['total']:>7.2f} {stars} {owner:<10} {ready:<11} {why}"
        )
    if not args.json:
        print(f"{len(found)} lead(s)")
    return 0


def simulate(settings: Settings, args: argparse.Namespace) -> int:
    """`dealstream simulate`: realistic traffic; workers must share its accelerated clock."""
    from workers.simulate.publisher import Publisher, clock_setting
    from workers.simulate.simulator import SimulationConfig

    anchor = args.anchor if args.anchor is not None else time.time()
    config = SimulationConfig(seed=args.seed, rate=args.rate, factor=args.factor)
    print(f"run the workers with DEALSTREAM_CLOCK={clock_setting(args.factor, anchor)}")
    publisher = Publisher(settings, config, anchor)
    last = [time.monotonic()]

    def report(pub: Publisher) -> None:
        if time.monotonic() - last[0] >= 5:
            last[0] = time.monotonic()
            print(f"{pub.clock.now():%Y-%m-%d %H:%M} sent {dict(pub.sent)}", flush=True)

    asyncio.run(publisher.run(args.duration, on_tick=report))
    print(f"sent {sum(publisher.sent.values())} events: {dict(publisher.sent)}")
    return 0

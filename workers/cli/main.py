"""`dealstream`: worker, local stack, topics, publishing, rules and configuration."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from workers.backtest import command as backtest_command
from workers.backtest.errors import BacktestError
from workers.cli import dev_commands, pipeline_commands
from workers.cli.errors import CliError, OneLineParser, describe
from workers.observability.log_guard import (
    RepeatLimiter,
    guard_handlers,
    install_redaction,
    secrets_of,
)
from workers.rules.diff import diff_rules
from workers.rules.loader import load_rules
from workers.settings import Settings, SettingsError


def positive(text: str) -> float:
    """A number above zero (a rate, a factor, a duration)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number above zero")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="dealstream", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    sub.add_parser("worker", help="run a worker (the Faust app) until SIGTERM")
    dev = sub.add_parser("dev", help="the local Kafka + Redis stack")
    dev.add_argument("action", choices=["up", "down", "status"])
    dev.add_argument("--dir", type=Path, default=Path("var/devstack"), help="state folder")
    topics = sub.add_parser("topics", help="contract topics")
    topics.add_argument("action", choices=["create", "list"])
    pub = sub.add_parser("publish", help="validate and send JSON-lines events to an input topic")
    pub.add_argument("topic", help="contract topic name without prefix, e.g. crm.contacts")
    pub.add_argument("file", type=Path, help="a .jsonl file, or - for standard input")
    pub.add_argument("--dry-run", action="store_true", help="validate only")
    rules = sub.add_parser("rules", help="rules files")
    rules.add_argument(
        "action", choices=["check", "diff", "publish", "backtest"],
        help="publish: validate, then apply to every running worker (dealstream.rules); "
        "backtest: replay the history through FILE and the current rules, compare",
    )  # fmt: skip
    rules.add_argument("file", type=Path)
    rules.add_argument("new", type=Path, nargs="?", help="with diff: the new rules file")
    backtest_command.add_arguments(rules)
    sub.add_parser("config", help="list every DEALSTREAM_* setting with its default")
    pipe = sub.add_parser("pipeline", help="pipeline analytics from a worker, and sizing")
    pipe.add_argument("action", choices=["report", "size"])
    pipe.add_argument("--url", default=None, help="a worker's base URL (default: this host's)")
    pipe.add_argument("--pipeline", help="which pipeline (default: the first)")
    pipe.add_argument("--target-revenue", type=float, help="size: the revenue to reach (> 0)")
    pipe.add_argument(
        "--avg-deal-size", type=float, help="size: default the observed average won deal"
    )
    pipe.add_argument(
        "--close-rate", help="size: a fraction in (0, 1] or a percentage like 25%%; "
        "default the observed win rate",
    )  # fmt: skip
    pipe.add_argument("--reps", type=int, help="size: reps sharing the leads (optional)")
    pipe.add_argument("--json", action="store_true", help="one JSON document")
    leads = sub.add_parser("leads", help="list leads from the Redis view, best first")
    leads.add_argument("--min-score", type=float, default=0.0)
    leads.add_argument("--owner")
    leads.add_argument("--product-line")
    leads.add_argument("--ready", action="store_true", help="only sales-ready leads")
    leads.add_argument("--limit", type=int, default=50)
    leads.add_argument("--json", action="store_true", help="one JSON document per line")
    demo = sub.add_parser(
        "demo", help="the main job: local stack, a worker, demo traffic, live view"
    )
    demo.add_argument("--dir", type=Path, default=Path("var/demo"), help="state folder")
    demo.add_argument(
        "--duration", type=positive, default=None, help="seconds (default: until Ctrl-C)"
    )
    for cmd in (demo, simulate := sub.add_parser(
        "simulate", help="publish realistic, seeded CRM traffic to DEALSTREAM_BROKERS"
    )):  # fmt: skip
        cmd.add_argument("--rate", type=positive, default=60.0, help="engagements per second")
        cmd.add_argument("--seed", type=int, default=7)
        cmd.add_argument(
            "--factor", type=positive, default=8640.0,
            help="simulated seconds per second (8640: a day every 10 s)",
        )  # fmt: skip
    simulate.add_argument("--duration", type=positive, default=None, help="seconds")
    replay = sub.add_parser(
        "replay", help="re-process the inputs from a point in time (workers stopped)"
    )
    replay.add_argument("--from", dest="since", required=True, help="ISO 8601 time")
    replay.add_argument("--topic", action="append", help="an input topic (default: all)")
    simulate.add_argument(
        "--anchor", type=float, default=None,
        help="wall time (epoch s) the clocks agree on; default now",
    )  # fmt: skip
    for verb in sub.choices.values():  # `dealstream leads --debug` works too
        verb.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:  # None: the verb reports the bad setting itself
        settings: Settings | None = Settings.from_env()
    except SettingsError:
        settings = None
    _configure_logging(args, settings)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        if settings is None:
            brokers, redis_url = "DEALSTREAM_BROKERS", "DEALSTREAM_REDIS_URL"
        else:
            brokers, redis_url = ",".join(settings.broker_list), settings.redis_url
        message, code = describe(exc, brokers, redis_url)
        print(f"dealstream {args.command}: {message}", file=sys.stderr)
        return code


def _configure_logging(args: argparse.Namespace, settings: Settings | None) -> None:
    """A service logs at INFO; a one-shot verb says only what went wrong (its own line), so
    the clients' connection retries stay quiet unless --debug."""
    if args.debug:
        level = logging.DEBUG
    elif args.command in ("worker", "demo", "simulate"):
        level = logging.INFO
    else:
        level = logging.WARNING
    if settings is not None:  # secrets are redacted from every log line, whatever the level
        install_redaction(secrets_of(settings.sasl_password, settings.redis_url))
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    guard_handlers(logging.getLogger().handlers, RepeatLimiter())
    if not args.debug and args.command != "worker":
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "config":
        for name, default, doc in Settings.describe():
            print(f"{name:<34} {default:<28} {doc}")
        return 0
    if args.command == "rules":
        try:
            if args.action == "backtest":
                return backtest_command.run(Settings.from_env(), args)
            backtest_command.refuse_backtest_options(args)
        except BacktestError as exc:
            raise CliError(str(exc)) from None
        rules = load_rules(args.file)
        if args.action == "diff":
            if args.new is None:
                raise CliError("give two files: dealstream rules diff OLD NEW")
            for line in diff_rules(rules, load_rules(args.new)):
                print(line)
            return 0
        if args.action == "publish":
            from workers.runtime.rules_topic import publish_rules

            asyncio.run(publish_rules(Settings.from_env(), args.file.read_text(), str(args.file)))
            print(f"{args.file}: published version {rules.version} to every worker")
            return 0
        if args.new is not None:
            raise CliError(f"`rules {args.action}` takes one file ({args.new} is one too many)")
        print(f"{args.file}: ok (version {rules.version})")
        return 0
    if args.command == "demo":
        from workers.demo.runner import run_demo

        return run_demo(
            args.dir, duration=args.duration, rate=args.rate, seed=args.seed, factor=args.factor
        )
    if args.command == "dev":
        return dev_commands.dev(args.action, args.dir)
    settings = Settings.from_env()
    if args.command == "worker":
        from workers.runtime.worker import run_worker

        return run_worker(settings)
    if args.command == "topics":
        return asyncio.run(dev_commands.topics(settings, args.action))
    if args.command == "pipeline":
        return pipeline_commands.run(settings, args)
    if args.command == "leads":
        return asyncio.run(dev_commands.leads(settings, args))
    if args.command == "replay":
        from workers.cli.replay import ReplayError, parse_when, replay

        try:
            again = asyncio.run(replay(settings, parse_when(args.since), args.topic))
        except ReplayError as exc:
            raise CliError(str(exc)) from None
        for name, count in sorted(again.items()):
            print(f"{name}: {count} messages will be re-processed")
        print("offsets moved; start the workers to re-process" if again else "nothing to replay")
        return 0
    if args.command == "simulate":
        return dev_commands.simulate(settings, args)
    if args.command == "publish":
        return dev_commands.publish(settings, args.topic, args.file, dry_run=args.dry_run)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())

"""What the command line says when a verb cannot do its job: one line, and an exit code.

Exit 2: the command was used wrongly (a bad argument, setting or rules file). Exit 1: a
service it needs (Kafka, Redis, a worker) cannot be reached, or something else failed.
`--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

USAGE = 2
UNAVAILABLE = 1


class CliError(Exception):
    """A failure the command explains itself; `code` is the exit code."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (which verb, what is wrong, where to look)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def describe(exc: BaseException, settings_brokers: str, redis_url: str) -> tuple[str, int]:
    """The line to print and the exit code for an exception a verb let through."""
    from aiokafka.errors import KafkaConnectionError, KafkaError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    from workers.devstack import DevStackError
    from workers.publish.prepare import UnknownTopic
    from workers.rules import RulesError
    from workers.runtime.preflight import StartupError
    from workers.settings import SettingsError
    from workers.topics.errors import TopicError

    if isinstance(exc, CliError):
        return str(exc), exc.code
    if isinstance(exc, SettingsError | RulesError | TopicError | UnknownTopic):
        return str(exc), USAGE
    if isinstance(exc, DevStackError | StartupError):
        return str(exc), UNAVAILABLE
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return (
            f"cannot reach Redis at {redis_url} ({_first_line(exc)}): start it "
            "(`dealstream dev up`) or point DEALSTREAM_REDIS_URL at it",
            UNAVAILABLE,
        )
    if isinstance(exc, KafkaConnectionError | KafkaError | TimeoutError):
        why = (
            "no broker answered"
            if isinstance(exc, KafkaConnectionError)
            else f"{type(exc).__name__}: {_first_line(exc)}".rstrip(": ")
        )
        return (
            f"cannot reach Kafka at {settings_brokers} ({why}): start it "
            "(`dealstream dev up`) or point DEALSTREAM_BROKERS at it",
            UNAVAILABLE,
        )
    if isinstance(exc, ConnectionError):
        return f"cannot connect: {_first_line(exc)}", UNAVAILABLE
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror}", USAGE
    return (
        f"unexpected error: {type(exc).__name__}: {_first_line(exc)} "
        "(run it again with --debug for the traceback)",
        UNAVAILABLE,
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""

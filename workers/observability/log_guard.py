"""Two guards on every log line of a dealstream process.

- Secrets never reach a log, at any level: every record is formatted as it is made and each
  secret (the SASL password, the password in the Redis URL) is replaced by `***`, in its plain,
  `repr` and bytes forms (aiokafka's debug log prints the SASL request as bytes).
- Repeated warnings and errors are rate-limited: the first of a kind (same logger, level and
  message template) passes, the next ones within `interval` are counted, and the first one
  after it says how many were held back. A broker outage is a few lines, not thousands.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlparse

MASK = "***"
_installed: list[str] = []
_lock = threading.Lock()


def secret_forms(secret: str) -> list[str]:
    """How a secret may appear in a formatted line: as is, escaped by repr, as bytes."""
    forms = {secret, repr(secret)[1:-1], repr(secret.encode())[2:-1]}
    return sorted((f for f in forms if f), key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def install_redaction(secrets: Iterable[str]) -> None:
    """Redact these secrets from every log record made from now on in this process."""
    forms = [form for secret in secrets if secret for form in secret_forms(secret)]
    with _lock:
        new = [f for f in forms if f not in _installed]
        if not new:
            return
        first = not _installed
        _installed.extend(new)
        _installed.sort(key=len, reverse=True)
        if first:
            logging.setLogRecordFactory(_redacting(logging.getLogRecordFactory()))


def _redacting(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: logging reports it later, unredacted args go
            message = str(record.msg)
            record.args = ()
        clean = redact(message, _installed)
        if clean != message:  # else the template stays (RepeatLimiter groups by it)
            record.msg, record.args = clean, ()
        if record.exc_info:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(text, _installed)
        return record

    return make


def secrets_of(sasl_password: str, redis_url: str) -> list[str]:
    secrets = [sasl_password]
    try:
        password = urlparse(redis_url).password
    except ValueError:
        password = None
    if password:
        secrets.append(password)
    return [s for s in secrets if s]


class RepeatLimiter(logging.Filter):
    """Let one warning-or-worse line of a kind through per `interval` seconds, with a count."""

    def __init__(self, interval: float = 30.0, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}
        self._last: tuple[logging.LogRecord | None, bool] = (None, True)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        if self._last[0] is record:  # the same record at a second handler: the same verdict
            return self._last[1]
        verdict = self._decide(record)
        self._last = (record, verdict)
        return verdict

    def _decide(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, str(record.msg)[:200])
        now = self.clock()
        since, held = self._seen.get(kind, (-float("inf"), 0))
        if now - since < self.interval:
            self._seen[kind] = (since, held + 1)
            return False
        self._seen[kind] = (now, 0)
        if held:
            more = f"(and {held} more like it in the last {now - since:.0f} s)"
            record.msg, record.args = f"{record.getMessage()} {more}", ()
        if len(self._seen) > 10_000:
            self._seen.clear()
        return True


def guard_handlers(handlers: Iterable[logging.Handler], limiter: RepeatLimiter) -> None:
    """Add the limiter to each handler once."""
    for handler in handlers:
        if limiter not in handler.filters:
            handler.addFilter(limiter)

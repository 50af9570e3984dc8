"""Secrets never reach a log at any level; repeated errors are one line per interval with a
count (issue 14.7)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from workers.observability.log_guard import (
    RepeatLimiter,
    guard_handlers,
    install_redaction,
    secret_forms,
    secrets_of,
)

PASSWORD = "s3cr'et\\pw"


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.log_guard")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream, handler
    logger.removeHandler(handler)


def test_the_password_is_redacted_in_every_form_at_every_level(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, _handler = captured
    install_redaction(secrets_of(PASSWORD, "redis://:r3dispw@127.0.0.1:6379/0"))
    auth = b"user\x00user\x00" + PASSWORD.encode()
    logger.debug("Sending request SaslAuthenticateRequest_v1(sasl_auth_bytes=%r)", auth)
    logger.info("password %s", PASSWORD)
    logger.error("url %s", "redis://:r3dispw@127.0.0.1:6379/0")
    try:
        raise RuntimeError(f"login failed for {PASSWORD!r}")
    except RuntimeError:
        logger.exception("boom")
    text = stream.getvalue()
    assert all(form not in text for form in secret_forms(PASSWORD)), text
    assert "r3dispw" not in text
    assert text.count("***") == 4


def test_repeated_errors_are_one_line_per_interval_with_a_count(
    captured: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, handler = captured
    now = [0.0]
    limiter = RepeatLimiter(interval=30.0, clock=lambda: now[0])
    guard_handlers([handler], limiter)
    for second in range(35):  # a broker outage: one error a second
        now[0] = float(second)
        logger.error('Unable connect to "%s": %s', "127.0.0.1:9092", "refused")
        logger.info("info lines are not limited")
    lines = [line for line in stream.getvalue().splitlines() if line.startswith("ERROR")]
    assert lines == [
        'ERROR Unable connect to "127.0.0.1:9092": refused',
        'ERROR Unable connect to "127.0.0.1:9092": refused (and 29 more like it in the last 30 s)',
    ]
    assert stream.getvalue().count("info lines are not limited") == 35


def test_a_record_seen_by_two_handlers_is_judged_once() -> None:
    limiter = RepeatLimiter(interval=30.0, clock=lambda: 0.0)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom %s", ("a",), None)
    assert limiter.filter(record) is True
    assert limiter.filter(record) is True  # the second handler of the same line
    again = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom %s", ("b",), None)
    assert limiter.filter(again) is False

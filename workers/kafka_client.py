"""Connection options for aiokafka clients, including SASL/TLS, from the settings."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from workers.settings import Settings

_Client = TypeVar("_Client")


def client_options(settings: Settings) -> dict[str, Any]:
    opts: dict[str, Any] = {
        "bootstrap_servers": ",".join(settings.broker_list),
        "security_protocol": settings.security_protocol,
    }
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        opts["ssl_context"] = ssl_context(settings)
    if settings.security_protocol.startswith("SASL"):
        opts["sasl_mechanism"] = settings.sasl_mechanism
        opts["sasl_plain_username"] = settings.sasl_username
        opts["sasl_plain_password"] = settings.sasl_password
    return opts


def ssl_context(settings: Settings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.ssl_cafile or None)


@asynccontextmanager
async def started(client: _Client) -> AsyncIterator[_Client]:
    """Start an aiokafka producer, consumer or admin client and always close it, even when it
    never connected (no "Unclosed AIOKafkaProducer" after a failed start)."""
    try:
        await client.start()  # type: ignore[attr-defined]
    except BaseException:
        await _close(client)
        raise
    try:
        yield client
    finally:
        await _close(client)


async def _close(client: Any) -> None:
    close = getattr(client, "stop", None) or client.close
    with contextlib.suppress(Exception):
        await close()

"""Before Faust starts: can this worker reach and log in to Kafka? If not, one line that names
the setting to check, and exit 1 (instead of Faust's crash of ~90 lines)."""

from __future__ import annotations

import asyncio
import logging
import ssl

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    ClusterAuthorizationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

from workers.kafka_client import client_options, started
from workers.settings import Settings

log = logging.getLogger(__name__)

AUTH_ERRORS = (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    IllegalSaslStateError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)


class StartupError(RuntimeError):
    """The worker cannot start; the message says which setting to check."""


async def check_kafka(settings: Settings, wait: float = 30.0) -> None:
    """Return once the cluster answers a metadata request; retry connection failures for
    `wait` seconds (a broker starting beside us), fail at once on a login or TLS problem."""
    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # one line of ours, not one of theirs per attempt
    try:
        await _check(settings, wait)
    finally:
        quiet.setLevel(level)


async def _check(settings: Settings, wait: float) -> None:
    brokers = ",".join(settings.broker_list)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    told = False
    while True:
        admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=5000)
        try:
            try:
                async with started(admin):
                    await admin.list_topics()
                return
            except KafkaConnectionError:
                await _diagnose(settings)  # raises the cause the bootstrap error hides
                raise
        except AUTH_ERRORS as exc:
            raise StartupError(
                f"Kafka at {brokers} refused the login of {settings.sasl_username!r} with "
                f"{settings.sasl_mechanism} ({type(exc).__name__}): check DEALSTREAM_SASL_USERNAME,"
                " DEALSTREAM_SASL_PASSWORD and DEALSTREAM_SASL_MECHANISM"
            ) from None
        except ClusterAuthorizationFailedError:
            raise StartupError(
                f"Kafka at {brokers}: {settings.sasl_username!r} may not describe the cluster: "
                "grant it Describe on the cluster and Read/Write on the deployment's topics "
                "and group (Kafka ACLs)"
            ) from None
        except ssl.SSLError as exc:
            raise StartupError(
                f"TLS to Kafka at {brokers} failed ({exc.reason or exc}): check "
                "DEALSTREAM_SSL_CAFILE (the CA that signed the brokers' certificates) and "
                "DEALSTREAM_SECURITY_PROTOCOL"
            ) from None
        except (KafkaError, OSError, TimeoutError) as exc:
            if loop.time() >= deadline:
                raise StartupError(
                    f"cannot reach Kafka at {brokers} for {wait:g} s ({type(exc).__name__}): "
                    "check DEALSTREAM_BROKERS and DEALSTREAM_SECURITY_PROTOCOL"
                ) from None
            if not told:
                log.warning("Kafka at %s does not answer yet; trying for %g s", brokers, wait)
                told = True
        await asyncio.sleep(min(2.0, max(0.0, deadline - loop.time())))


async def _diagnose(settings: Settings) -> None:
    """aiokafka says only "Unable to bootstrap": connect to each bootstrap server directly and
    raise what stopped it (a refused login, a certificate not trusted); return if nothing
    but the connection itself failed."""
    options = client_options(settings)
    options.pop("bootstrap_servers")
    for broker in settings.broker_list:
        host, _, port = broker.rpartition(":")
        try:
            conn = await create_conn(host, int(port), request_timeout_ms=5000, **options)
        except (*AUTH_ERRORS, ssl.SSLError):
            raise
        except Exception:  # refused, unreachable, timed out: the caller retries
            continue
        conn.close()

"""Settings: one frozen object, built once from the environment and passed down.

Every variable is `DEALSTREAM_<FIELD>` in upper case. `Settings.describe()` lists them for the
README and `dealstream config`.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from workers.ingest.times import parse_bound
from workers.settings.errors import SettingsError

PREFIX = "DEALSTREAM_"
DEFAULT_RULES = Path(__file__).resolve().parent.parent / "rules" / "default_rules.yaml"
STORES = ("rocksdict", "memory")
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
ALLOCATORS = ("auto", "jemalloc", "mimalloc", "python")  # workers/backtest/allocator.py


def _doc(text: str, **kw: Any) -> Any:
    return field(metadata={"doc": text}, **kw)


@dataclass(frozen=True, slots=True)
class Settings:
    brokers: str = _doc(
        "Kafka bootstrap servers, comma separated host:port", default="127.0.0.1:9092"
    )
    redis_url: str = _doc("Redis URL for the serving view", default="redis://127.0.0.1:6379/0")
    partitions: int = _doc("Partitions of every contract topic and table", default=8)
    replication_factor: int = _doc("Replication factor of created topics", default=1)
    store: str = _doc("Table store: rocksdict (persistent) or memory", default="rocksdict")
    data_dir: Path = _doc("Directory for the table store", default=Path("var/dealstream"))
    rules_file: Path = _doc("Rules file (YAML)", default=DEFAULT_RULES)
    topic_prefix: str = _doc("Prefix of every contract topic name", default="")
    app_id: str = _doc("Consumer group and internal topic prefix", default="dealstream")
    web_host: str = _doc("Address the HTTP server binds", default="127.0.0.1")
    web_port: int = _doc("Port of /metrics, /healthz, /readyz", default=6066)
    max_message_bytes: int = _doc("Larger input values are dead-lettered", default=262144)
    dedupe_window: int = _doc("Recent event ids remembered per entity key", default=64)
    log_level: str = _doc("Log level", default="info")
    session_timeout: float = _doc(
        "Seconds before the group evicts a worker that stopped heartbeating (failover time)",
        default=10.0,
    )
    min_occurred_at: str = _doc(
        "Inputs whose occurred_at is earlier are dead-lettered (implausible_timestamp)",
        default="2000-01-01T00:00:00Z",
    )
    max_occurred_at: str = _doc(
        "Inputs whose occurred_at is later are dead-lettered (implausible_timestamp)",
        default="2100-01-01T00:00:00Z",
    )
    startup_wait: float = _doc(
        "Seconds a starting worker waits for Kafka to answer before it exits 1", default=30.0
    )
    security_protocol: str = _doc("Kafka security protocol", default="PLAINTEXT")
    sasl_mechanism: str = _doc("SASL mechanism: PLAIN, SCRAM-SHA-256/512", default="PLAIN")
    sasl_username: str = _doc("SASL user name", default="")
    sasl_password: str = _doc("SASL password (never logged)", default="", repr=False)
    ssl_cafile: str = _doc("CA bundle for TLS to Kafka", default="")
    clock: str = _doc(
        "Clock: 'system', or 'accelerated:<factor>[@<anchor>]': days pass in seconds (demo, tests)",
        default="system",
    )
    backtest_allocator: str = _doc(
        "Memory allocator of a backtest's replay processes: auto (jemalloc with huge pages, "
        "else mimalloc with huge pages, else Python's), jemalloc, mimalloc or python",
        default="auto",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = PREFIX + f.name.upper()
            if name in env:
                values[f.name] = _PARSERS.get(f.name, _text)(name, env[name])
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        _positive("DEALSTREAM_PARTITIONS", self.partitions)
        _positive("DEALSTREAM_REPLICATION_FACTOR", self.replication_factor)
        _positive("DEALSTREAM_MAX_MESSAGE_BYTES", self.max_message_bytes)
        _positive("DEALSTREAM_DEDUPE_WINDOW", self.dedupe_window)
        if not 6.0 <= self.session_timeout <= 300.0:
            raise SettingsError(
                "DEALSTREAM_SESSION_TIMEOUT", str(self.session_timeout), "must be 6..300 seconds"
            )
        for name, value in (
            ("DEALSTREAM_MIN_OCCURRED_AT", self.min_occurred_at),
            ("DEALSTREAM_MAX_OCCURRED_AT", self.max_occurred_at),
        ):
            try:
                parse_bound(value)
            except ValueError as exc:
                raise SettingsError(name, value, str(exc)) from None
        if self.occurred_window[0] >= self.occurred_window[1]:
            raise SettingsError(
                "DEALSTREAM_MAX_OCCURRED_AT", self.max_occurred_at, "must be after the minimum"
            )
        if not 0 <= self.startup_wait <= 3600:
            raise SettingsError(
                "DEALSTREAM_STARTUP_WAIT", str(self.startup_wait), "must be 0..3600 seconds"
            )
        if not 0 < self.web_port < 65536:
            raise SettingsError("DEALSTREAM_WEB_PORT", str(self.web_port), "must be 1..65535")
        _one_of("DEALSTREAM_STORE", self.store, STORES)
        _one_of("DEALSTREAM_SECURITY_PROTOCOL", self.security_protocol, SECURITY_PROTOCOLS)
        _one_of("DEALSTREAM_SASL_MECHANISM", self.sasl_mechanism, SASL_MECHANISMS)
        _one_of("DEALSTREAM_BACKTEST_ALLOCATOR", self.backtest_allocator, ALLOCATORS)
        for broker in self.broker_list:
            host, _, port = broker.rpartition(":")
            if not host or not port.isdigit():
                raise SettingsError("DEALSTREAM_BROKERS", self.brokers, "expected host:port[,...]")
        if urlparse(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise SettingsError("DEALSTREAM_REDIS_URL", self.redis_url, "expected redis://...")
        if not self.rules_file.is_file():
            raise SettingsError("DEALSTREAM_RULES_FILE", str(self.rules_file), "no such file")
        if self.ssl_cafile:
            cafile = Path(self.ssl_cafile)
            if not cafile.is_file():
                raise SettingsError("DEALSTREAM_SSL_CAFILE", self.ssl_cafile, "no such file")
            if not os.access(cafile, os.R_OK):
                raise SettingsError("DEALSTREAM_SSL_CAFILE", self.ssl_cafile, "not readable")
        if self.security_protocol.startswith("SASL") and not self.sasl_username:
            raise SettingsError(
                "DEALSTREAM_SASL_USERNAME", "", f"required with {self.security_protocol}"
            )
        if self.clock != "system" and not self.clock.startswith("offset-file:"):
            kind, _, rest = self.clock.partition(":")
            factor, at, anchor = rest.partition("@")
            if (
                kind != "accelerated"
                or not _is_positive_float(factor)
                or (at and not _is_positive_float(anchor))
            ):
                raise SettingsError(
                    "DEALSTREAM_CLOCK",
                    self.clock,
                    "expected 'system' or 'accelerated:<factor>[@<anchor unix seconds>]'",
                )

    @property
    def occurred_window(self) -> tuple[dt.datetime, dt.datetime]:
        return parse_bound(self.min_occurred_at), parse_bound(self.max_occurred_at)

    @property
    def broker_list(self) -> list[str]:
        return [b.strip().removeprefix("kafka://") for b in self.brokers.split(",") if b.strip()]

    def topic(self, name: str) -> str:
        """The configured name of a contract topic (prefix applied)."""
        return self.topic_prefix + name

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(variable, default, meaning) for every setting."""
        out = []
        for f in fields(cls):
            default = "" if f.name == "sasl_password" else str(f.default)
            if f.name == "rules_file":
                default = "built-in workers/rules/default_rules.yaml"
            out.append((PREFIX + f.name.upper(), default, str(f.metadata["doc"])))
        return out


def _text(_: str, raw: str) -> str:
    return raw.strip()


def _int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise SettingsError(name, raw, "expected an integer") from None


def _float(name: str, raw: str) -> float:
    try:
        return float(raw.strip())
    except ValueError:
        raise SettingsError(name, raw, "expected a number of seconds") from None


def _is_positive_float(raw: str) -> bool:
    try:
        return float(raw) > 0
    except ValueError:
        return False


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise SettingsError(name, str(value), "must be at least 1")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        close = difflib.get_close_matches(value, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise SettingsError(name, value, f"expected one of {', '.join(allowed)}{hint}")


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "partitions": _int,
    "replication_factor": _int,
    "web_port": _int,
    "max_message_bytes": _int,
    "dedupe_window": _int,
    "session_timeout": lambda name, raw: _float(name, raw),
    "startup_wait": lambda name, raw: _float(name, raw),
    "data_dir": lambda _n, raw: Path(raw),
    "rules_file": lambda _n, raw: Path(raw),
}

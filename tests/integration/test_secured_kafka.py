"""A secured cluster (issue 14.7): a broker with a SASL_SSL listener (a generated CA, SCRAM and
PLAIN users). The CLI and a worker work through it; the password never reaches the log, even
at debug; a wrong password or an untrusted CA is one line naming the setting, exit 1."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.integration.kafka_io import consume
from tests.integration.worker_process import WorkerProcess
from workers.devstack.kafka_broker import KafkaBroker
from workers.devstack.secured import SecuredListener
from workers.observability.log_guard import secret_forms

SCRAM_PASSWORD = "sCr4m-pa55-Alice"
PLAIN_PASSWORD = "pl41n-pa55-Bob"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    listener = SecuredListener({"alice": SCRAM_PASSWORD}, {"bob": PLAIN_PASSWORD})
    broker = KafkaBroker(tmp_path_factory.mktemp("secured-kafka"), secured=listener)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def env_for(broker: KafkaBroker, worker_env: dict[str, str], **over: str) -> dict[str, str]:
    assert broker.secured is not None
    return {
        **worker_env,
        "DEALSTREAM_BROKERS": broker.secured.bootstrap,
        "DEALSTREAM_SECURITY_PROTOCOL": "SASL_SSL",
        "DEALSTREAM_SASL_MECHANISM": "SCRAM-SHA-512",
        "DEALSTREAM_SASL_USERNAME": "alice",
        "DEALSTREAM_SASL_PASSWORD": SCRAM_PASSWORD,
        "DEALSTREAM_SSL_CAFILE": str(broker.secured.ca_file(broker.workdir)),
        "DEALSTREAM_STARTUP_WAIT": "5",
        **over,
    }


def cli(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli.main", *args], env={**os.environ, **env},
        input=stdin, capture_output=True, text=True, timeout=90, check=False,
    )  # fmt: skip


def contact(n: int) -> str:
    at = dt.datetime.now(dt.UTC).isoformat()
    return orjson.dumps({
        "type": "contact.upserted", "event_id": f"u{n}", "contact_id": f"c{n}", "occurred_at": at,
        "fields": {"lead_status": "Hot"},
    }).decode()  # fmt: skip


@pytest.mark.parametrize(
    ("mechanism", "user", "password"),
    [("SCRAM-SHA-512", "alice", SCRAM_PASSWORD), ("PLAIN", "bob", PLAIN_PASSWORD)],
)
def test_the_cli_and_a_worker_run_through_sasl_ssl_and_never_log_the_password(
    secured: KafkaBroker,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    tmp_path: Path,
    mechanism: str,
    user: str,
    password: str,
) -> None:
    env = env_for(
        secured, worker_env, DEALSTREAM_SASL_MECHANISM=mechanism, DEALSTREAM_SASL_USERNAME=user,
        DEALSTREAM_SASL_PASSWORD=password, DEALSTREAM_LOG_LEVEL="debug",
    )  # fmt: skip
    created = cli(env, "topics", "create")
    assert created.returncode == 0, created.stderr
    worker = WorkerProcess(env, tmp_path / "w.log")
    workers.append(worker.start(wait_ready=120))
    published = cli(env, "--debug", "publish", "crm.contacts", "-", stdin=contact(1) + "\n")
    assert published.returncode == 0, published.stderr
    topic = env["DEALSTREAM_TOPIC_PREFIX"] + "crm.lead-scores"
    (score,) = consume(secured.bootstrap, topic, expect=1)  # read on the PLAINTEXT listener
    assert orjson.loads(score.value)["total"] > 0
    worker.terminate()
    log = worker.log_file.read_text(errors="replace") + published.stderr + created.stderr
    assert "Logging error" not in log
    if mechanism == "PLAIN":  # aiokafka's debug line of the login, with the secret masked
        assert "sasl_auth_bytes=b'bob\\x00bob\\x00***'" in log
    for form in secret_forms(password):
        assert form not in log, f"{form!r} in a log line"


def test_a_wrong_password_is_one_line_naming_the_settings(
    secured: KafkaBroker, worker_env: dict[str, str]
) -> None:
    done = cli(env_for(secured, worker_env, DEALSTREAM_SASL_PASSWORD="wrong"), "worker")
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("dealstream worker: Kafka at 127.0.0.1:")
    assert "refused the login of 'alice' with SCRAM-SHA-512" in lines[0]
    assert "DEALSTREAM_SASL_PASSWORD" in lines[0]
    assert "wrong" not in lines[0]


def test_an_untrusted_ca_is_one_line_naming_the_ca_setting(
    secured: KafkaBroker, worker_env: dict[str, str], tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"  # a CA that did not sign the broker's certificate
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
         str(tmp_path / "other.key"), "-out", str(other), "-days", "1", "-subj", "/CN=other"],
        capture_output=True, check=True,
    )  # fmt: skip
    done = cli(env_for(secured, worker_env, DEALSTREAM_SSL_CAFILE=str(other)), "worker")
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "TLS to Kafka at 127.0.0.1:" in lines[0]
    assert "CERTIFICATE_VERIFY_FAILED" in lines[0]
    assert "DEALSTREAM_SSL_CAFILE" in lines[0]

"""A SASL_SSL listener for the local broker (tests of a secured cluster): a CA and a broker
certificate made with openssl, SCRAM users written into the storage at format time, PLAIN
users in the listener's JAAS line. The PLAINTEXT listener stays for test set-up."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from workers.devstack import processes
from workers.devstack.errors import DevStackError

SCRAM = ("SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass
class SecuredListener:
    """SASL_SSL on `port`; `scram_users` get both SCRAM mechanisms, `plain_users` PLAIN."""

    scram_users: dict[str, str]
    plain_users: dict[str, str]
    port: int = field(default_factory=processes.free_port)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ca_file(self, workdir: Path) -> Path:
        return workdir / "tls" / "ca.pem"

    def make_certificates(self, workdir: Path) -> Path:
        """A CA, and a broker certificate it signs for 127.0.0.1/localhost; the keystore."""
        tls = workdir / "tls"
        keystore = tls / "broker-keystore.pem"
        if keystore.exists():
            return keystore
        tls.mkdir(parents=True, exist_ok=True)
        openssl = shutil.which("openssl")
        if openssl is None:
            raise DevStackError("openssl not found: install it (apt-get install openssl)")
        (tls / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        steps = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
             "-out", "ca.pem", "-days", "3", "-subj", "/CN=dealstream test CA"],
            ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key",
             "-out", "broker.csr", "-subj", "/CN=localhost"],
            ["x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "broker.pem", "-days", "3", "-extfile", "san.ext"],
        ]  # fmt: skip
        for step in steps:
            done = subprocess.run(
                [openssl, *step], cwd=tls, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise DevStackError(f"openssl {step[0]} failed: {done.stderr.strip()}")
        keystore.write_text((tls / "broker.key").read_text() + (tls / "broker.pem").read_text())
        return keystore

    def properties(self, workdir: Path) -> dict[str, str]:
        """Server properties added to the broker's (listeners are joined by the broker)."""
        plain = " ".join(f'user_{name}="{pw}"' for name, pw in self.plain_users.items())
        props = {
            "sasl.enabled.mechanisms": ",".join(("PLAIN", *SCRAM)),
            "listener.name.sasl_ssl.plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain};"
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.make_certificates(workdir)),
            "ssl.client.auth": "none",
        }
        for mechanism in SCRAM:
            props[f"listener.name.sasl_ssl.{mechanism.lower()}.sasl.jaas.config"] = (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            )
        return props

    def format_arguments(self) -> list[str]:
        """`kafka-storage format` arguments that create the SCRAM users."""
        return [
            f"--add-scram={mechanism}=[name={name},password={pw}]"
            for name, pw in self.scram_users.items()
            for mechanism in SCRAM
        ]

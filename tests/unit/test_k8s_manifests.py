"""deploy/k8s (issue 7): valid Kubernetes objects (offline schemas of kubernetes-validate), and
consistent with the worker: settings it reads, rules it accepts, probes and ports it serves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from workers.rules.loader import parse_rules
from workers.settings import Settings

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUBERNETES_VERSION = "1.30.0"  # the oldest release we support; the schemas are stored offline


def documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            out.append((path.name, doc))
    return out


def kind(name: str) -> dict[str, Any]:
    return next(doc for _, doc in documents() if doc["kind"] == name)


@pytest.mark.parametrize(
    ("file", "doc"), documents(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_each_object_is_valid_kubernetes(file: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest_but_the_example_secret() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == files - {"secret-kafka.example.yaml"}


def config_map(name: str) -> dict[str, str]:
    data: dict[str, str] = next(
        doc["data"] for _, doc in documents()
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == name
    )  # fmt: skip
    return data


def pod() -> dict[str, Any]:
    spec: dict[str, Any] = kind("StatefulSet")["spec"]["template"]["spec"]
    return spec


def test_settings_are_ones_the_worker_reads_and_valid(tmp_path: Path) -> None:
    settings_map = config_map("dealstream-settings")
    known = {name for name, _, _ in Settings.describe()}
    assert set(settings_map) <= known, set(settings_map) - known
    mounted = {  # the files the pod mounts, here
        "DEALSTREAM_RULES_FILE": tmp_path / "rules.yaml",
        "DEALSTREAM_SSL_CAFILE": tmp_path / "ca.crt",
        "DEALSTREAM_DATA_DIR": tmp_path / "data",
    }
    mounted["DEALSTREAM_RULES_FILE"].write_text(config_map("dealstream-rules")["rules.yaml"])
    mounted["DEALSTREAM_SSL_CAFILE"].write_text("")
    env = {
        **settings_map,
        **{k: str(v) for k, v in mounted.items()},
        "DEALSTREAM_SASL_USERNAME": "u",
        "DEALSTREAM_SASL_PASSWORD": "p",
    }
    assert Settings.from_env(env).security_protocol == "SASL_SSL"


def test_rules_configmap_is_a_valid_rules_file_mounted_where_the_settings_say() -> None:
    parse_rules(config_map("dealstream-rules")["rules.yaml"], "configmap-rules.yaml")
    settings_map = config_map("dealstream-settings")
    mounts = {m["name"]: m["mountPath"] for m in pod()["containers"][0]["volumeMounts"]}
    assert settings_map["DEALSTREAM_RULES_FILE"] == mounts["rules"] + "/rules.yaml"
    assert settings_map["DEALSTREAM_DATA_DIR"] == mounts["table-store"]
    assert settings_map["DEALSTREAM_SSL_CAFILE"].startswith(mounts["kafka-tls"] + "/")


def test_worker_pod_probes_ports_resources_and_secrets() -> None:
    stateful = kind("StatefulSet")
    assert stateful["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "table-store"
    container = pod()["containers"][0]
    port = container["ports"][0]["containerPort"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]) == {"requests", "limits"}
    annotations = stateful["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port
    assert annotations["prometheus.io/path"] == "/metrics"
    assert config_map("dealstream-settings")["DEALSTREAM_WEB_PORT"] == str(port)
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert secrets == {"dealstream-kafka-credentials"}
    assert pod()["securityContext"]["runAsNonRoot"] is True


def test_disruption_budget_and_service_select_the_workers() -> None:
    labels = kind("StatefulSet")["spec"]["template"]["metadata"]["labels"]
    assert kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert kind("Service")["spec"]["selector"].items() <= labels.items()

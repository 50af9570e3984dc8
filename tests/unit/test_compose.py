"""docker-compose.yml cannot run here (no Docker engine): check it agrees with the worker."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

from workers.devstack.kafka_broker import kafka_version
from workers.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
WORKER_ENV: dict[str, str] = SERVICES["worker"]["environment"]


def test_services_images_and_builds() -> None:
    assert set(SERVICES) >= {"kafka", "redis", "worker", "prometheus", "grafana"}
    assert SERVICES["kafka"]["image"] == f"apache/kafka:{kafka_version()}"
    assert SERVICES["redis"]["image"].startswith("redis:")
    assert SERVICES["worker"]["build"] == "."
    assert (ROOT / "Dockerfile").is_file()
    for service in SERVICES.values():
        assert ":latest" not in str(service.get("image", ""))


def test_worker_environment_is_settings_the_worker_reads_and_valid() -> None:
    known = {name for name, _, _ in Settings.describe()}
    assert set(WORKER_ENV) <= known
    settings = Settings.from_env(WORKER_ENV)  # raises on any bad value
    assert settings.web_host == "0.0.0.0"


def test_addresses_point_at_services_and_ports_agree() -> None:
    settings = Settings.from_env(WORKER_ENV)
    host, port = settings.broker_list[0].split(":")
    assert host == "kafka"
    assert (
        f"PLAINTEXT://kafka:{port}"
        in SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    )
    assert urlparse(settings.redis_url).hostname == "redis"
    assert f"127.0.0.1:{settings.web_port}:{settings.web_port}" in SERVICES["worker"]["ports"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"EXPOSE {settings.web_port}" in dockerfile
    # the native core is built (with Rust) and installed beside the workers
    assert "./workers/native" in dockerfile
    assert "dealstream dealstream-core" in dockerfile
    # and the allocator a backtest's replay processes choose (`auto`: jemalloc, huge pages)
    assert "libjemalloc2" in dockerfile.split("FROM ")[-1]
    assert "workers/native/target" in (ROOT / ".dockerignore").read_text()
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == [f"worker:{settings.web_port}"]


def test_published_ports_bind_loopback_only() -> None:
    for service in SERVICES.values():
        for mapping in service.get("ports", []):
            assert mapping.startswith("127.0.0.1:")


def test_dependencies_name_existing_services_and_volumes_exist() -> None:
    for service in SERVICES.values():
        for dependency in service.get("depends_on", {}):
            assert dependency in SERVICES
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
            else:
                assert source in COMPOSE["volumes"]


def test_grafana_dashboard_is_provisioned_and_queries_our_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/dealstream.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs
    assert all(re.search(r"dealstream_[a-z_]+", e) for e in exprs)


def test_dashboard_metrics_exist_in_the_worker() -> None:
    from workers.observability.metrics import Metrics

    families = list(Metrics().registry.collect())
    exported = {m.name for m in families}
    exported |= {f"{name}_total" for name in exported}
    exported |= {
        f"{m.name}_{s}"
        for m in families
        if m.type == "histogram"
        for s in ("bucket", "sum", "count")
    }
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/dealstream.json").read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"dealstream_[a-z_]+", target["expr"]):
                assert name in exported, name


def test_recording_rules_parse_and_use_exported_metrics() -> None:
    from workers.observability.metrics import Metrics

    exported = {m.name for m in Metrics().registry.collect()}
    rules = yaml.safe_load((ROOT / "deploy/prometheus/recording-rules.yml").read_text())
    records = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert re.fullmatch(r"[a-z_]+:[a-z_]+:[a-z_]+", rule["record"]), rule["record"]
            records.add(rule["record"])
            for name in re.findall(r"\b(dealstream[:a-z_]+)", rule["expr"]):
                assert name in exported or name in records, name
    assert "dealstream:pipeline_velocity_per_day:ratio" in records
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert prometheus["rule_files"] == [
        "/etc/prometheus/recording-rules.yml",
        "/etc/prometheus/alert-rules.yml",
    ]


def test_alert_rules_parse_and_use_exported_metrics() -> None:
    from workers.observability.metrics import Metrics

    exported = {m.name for m in Metrics().registry.collect()}
    exported |= {
        f"{name}_{part}" for name in exported for part in ("total", "bucket", "count", "sum")
    }
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alert-rules.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {a["alert"] for a in alerts} >= {
        "DealstreamWorkerNotReady",
        "DealstreamDeadLetterSpike",
        "DealstreamTriggerLate",
    }
    for alert in alerts:
        assert alert["expr"].count("(") == alert["expr"].count(")"), alert["alert"]
        assert alert["annotations"]["summary"]
        for name in re.findall(r"\b(dealstream_[a-z_]+)", alert["expr"]):
            assert name in exported, name


def test_promtool_accepts_the_alert_and_recording_rules() -> None:
    import shutil
    import subprocess

    promtool = shutil.which("promtool") or str(ROOT / ".cache/promtool/usr/bin/promtool")
    assert Path(promtool).exists(), "promtool missing: run `make system-deps`"
    result = subprocess.run(
        [
            promtool,
            "check",
            "rules",
            "deploy/prometheus/alert-rules.yml",
            "deploy/prometheus/recording-rules.yml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

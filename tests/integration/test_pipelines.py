"""Pipeline analytics on the real local Kafka: scripted opportunities → /pipelines and metrics."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from tests.integration.deployment import deploy
from tests.integration.kafka_io import produce
from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack

RULES = """
version: it-pipelines
pipelines:
  - id: sales
    stages:
      - {id: qualification, probability: 0.2, normal: 30d}
      - {id: proposal, probability: 0.5, normal: 10d}
"""


def opp(
    n: str, kind: str, days_ago: float, stage: str, status: str, amount: float
) -> tuple[bytes, bytes]:
    at = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return n.encode(), orjson.dumps(
        {
            "event_id": f"{n}-{kind}-{days_ago}",
            "type": kind,
            "occurred_at": at.isoformat(),
            "opportunity_id": n,
            "contact_id": f"c-{n}",
            "pipeline_id": "sales",
            "stage_id": stage,
            "status": status,
            "amount": amount,
        }
    )


def test_scripted_opportunities_give_the_expected_report_and_metrics(
    stack: LocalStack, worker_env: dict[str, str], workers: list[WorkerProcess], tmp_path: Path
) -> None:
    env, settings = deploy(worker_env, tmp_path, RULES)
    workers.append(worker := WorkerProcess(env, tmp_path / "w.log").start())
    events = [
        opp("p1", "opportunity.upserted", 3, "proposal", "open", 1000),
        opp("p2", "opportunity.upserted", 15, "proposal", "open", 3000),  # stuck: 15 > 10 days
        opp("p3", "opportunity.upserted", 40, "qualification", "open", 500),
        opp("p3", "opportunity.stage_changed", 30, "proposal", "open", 500),
        opp("p3", "opportunity.closed", 20, "proposal", "won", 500),  # 20-day cycle
        opp("p4", "opportunity.upserted", 50, "qualification", "open", 1500),
        opp("p4", "opportunity.closed", 10, "qualification", "won", 1500),  # 40-day cycle
        opp("p5", "opportunity.upserted", 25, "qualification", "open", 800),
        opp("p5", "opportunity.closed", 5, "qualification", "lost", 800),
    ]
    produce(stack.kafka.bootstrap, settings.topic("crm.opportunities"), events)
    deadline = time.time() + 20
    while time.time() < deadline:
        report: dict[str, Any] = orjson.loads(worker.get("/pipelines")[1])
        if (
            report["pipelines"]
            and report["pipelines"][0]["won"] == 2
            and report["pipelines"][0]["lost"] == 1
        ):
            break
        time.sleep(0.5)
    sales = report["pipelines"][0]
    assert (
        sales["pipeline"],
        sales["open_deals"],
        sales["open_value"],
        sales["weighted_forecast"],
    ) == ("sales", 2, 4000, 2000)
    assert (sales["won"], sales["lost"], sales["win_rate"], sales["avg_won_deal_size"]) == (
        2,
        1,
        0.6667,
        1000,
    )
    assert sales["cycle_days"]["mean"] == 30.0
    assert sales["velocity_per_day"] == round(2 * (2 / 3) * 1000 / 30, 4)
    assert [s["opportunity_id"] for s in sales["stuck"]] == ["p2"]
    stages = {s["stage"]: s for s in sales["stages"]}
    assert stages["qualification"]["avg_days_in_stage"] == 23.33  # (10 + 40 + 20) / 3 completed
    assert stages["proposal"]["avg_days_in_stage"] == 10.0  # p3: from 30 to 20 days ago
    assert worker.metric("dealstream_pipeline_open_deals", pipeline="sales", stage="proposal") == 2
    assert (
        worker.metric("dealstream_pipeline_weighted_forecast", pipeline="sales", stage="proposal")
        == 2000
    )
    assert worker.metric("dealstream_pipeline_closed_deals", pipeline="sales", outcome="won") == 2
    assert worker.metric("dealstream_pipeline_stuck_deals", pipeline="sales", stage="proposal") == 1
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "workers.cli.main",
            "pipeline",
            "size",
            "--url",
            f"http://127.0.0.1:{worker.port}",
            "--target-revenue",
            "100000",
            "--reps",
            "10",
        ],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    # observed: 1,000 a deal, close rate 2/3 → 100 deals, 150 leads, 15 per rep
    assert "→ 100 deals" in cli.stdout
    assert "→ 150 leads" in cli.stdout
    assert "→ 15 leads per rep" in cli.stdout

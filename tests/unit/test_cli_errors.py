"""Every CLI verb, with the stack stopped and with bad arguments: one line on stderr, no
traceback, exit 2 for bad usage and 1 for a service that cannot be reached (issue 14.4)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from workers.settings.settings import DEFAULT_RULES


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def stopped_stack_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data = tmp_path_factory.mktemp("data")
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DEALSTREAM_")},
        "DEALSTREAM_BROKERS": f"127.0.0.1:{closed_port()}",
        "DEALSTREAM_REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
        "DEALSTREAM_WEB_PORT": str(closed_port()),
        "DEALSTREAM_DATA_DIR": str(data),
        "DEALSTREAM_STARTUP_WAIT": "2",
    }


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli.main", *args],
        env=env, capture_output=True, text=True, timeout=90, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def run_verb(
    env: dict[str, str], tmp_path: Path, args: tuple[str, ...]
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run a verb (`{events}` in an argument: a file with one valid event); its stderr lines."""
    events = tmp_path / "events.jsonl"
    events.write_text(EVENT)
    done = run(env, *(a.format(events=events) for a in args))
    return done, done.stderr.strip().splitlines()


EVENT = '{"type":"contact.upserted","event_id":"e1","contact_id":"c1","occurred_at":"2026-11-29T10:00:00Z"}\n'
RULES = str(DEFAULT_RULES)

UNREACHABLE = [
    (("leads",), "cannot reach Redis at redis://127.0.0.1:"),
    (("publish", "crm.contacts", "{events}"), "cannot reach Kafka at 127.0.0.1:"),
    (("topics", "create"), "cannot reach Kafka at 127.0.0.1:"),
    (("rules", "publish", RULES), "cannot reach Kafka at 127.0.0.1:"),
    (("replay", "--from", "2026-11-01T00:00Z"), "cannot reach Kafka at 127.0.0.1:"),
    (("simulate", "--duration", "2"), "cannot reach Kafka at 127.0.0.1:"),
    (("pipeline", "report"), "cannot read http://127.0.0.1:"),
    (("pipeline", "size", "--target-revenue", "1000"), "cannot read http://127.0.0.1:"),
    (("worker",), "cannot reach Kafka at 127.0.0.1:"),
]

BAD_USAGE = [
    (("bogus",), "invalid choice: 'bogus'"),
    (("demo", "--rate", "-5"), "argument --rate: '-5' must be a number above zero"),
    (("simulate", "--factor", "0"), "argument --factor: '0' must be a number above zero"),
    (("simulate", "--rate", "abc"), "argument --rate: 'abc' is not a number"),
    (("leads", "--limit", "x"), "argument --limit: invalid int value: 'x'"),
    (("rules", "check"), "the following arguments are required: file"),
    (
        ("rules", "check", "/nope.yaml"),
        "/nope.yaml: cannot read the file: No such file or directory",
    ),
    (("rules", "diff", RULES), "give two files: dealstream rules diff OLD NEW"),
    (("rules", "check", RULES, RULES), "takes one file"),
    (("publish", "crm.nope", "{events}"), "'crm.nope' is not an input topic of the contract"),
    (("publish", "crm.contacts", "/nope.jsonl"), "/nope.jsonl: No such file or directory"),
    (("replay", "--from", "yesterday"), "--from 'yesterday': give an ISO 8601 time"),
    (
        (
            "pipeline",
            "size",
            "--target-revenue",
            "1000",
            "--avg-deal-size",
            "10",
            "--close-rate",
            "80",
        ),
        "--close-rate 80: must be in (0, 1] or (0%, 100%] (for 80 percent write 80%)",
    ),
    (
        (
            "pipeline",
            "size",
            "--target-revenue",
            "1000",
            "--avg-deal-size",
            "10",
            "--close-rate",
            "0",
        ),
        "--close-rate 0: must be in (0, 1]",
    ),
    (
        (
            "pipeline",
            "size",
            "--target-revenue",
            "1000",
            "--avg-deal-size",
            "10",
            "--close-rate",
            "0.5",
            "--reps",
            "0",
        ),
        "--reps 0: must be ≥ 1",
    ),
    (
        (
            "pipeline",
            "size",
            "--target-revenue",
            "-5",
            "--avg-deal-size",
            "10",
            "--close-rate",
            "0.5",
        ),
        "--target-revenue -5: must be > 0",
    ),
    (("pipeline", "size", "--avg-deal-size", "10"), "pipeline size needs --target-revenue"),
    (("demo", "--rate", "x"), "argument --rate: 'x' is not a number"),
    (("config", "--x"), "unrecognized arguments: --x"),
]


@pytest.mark.parametrize(
    ("args", "says"), UNREACHABLE, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_a_stopped_stack_is_one_line_and_exit_1(
    stopped_stack_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    done, lines = run_verb(stopped_stack_env, tmp_path, args)
    assert done.returncode == 1, done.stderr
    if args[0] == "worker":  # a service logs that it waits, then says why it gives up
        assert "does not answer yet" in lines.pop(0)
    assert len(lines) == 1, done.stderr
    assert says in lines[0]
    assert lines[0].startswith(f"dealstream {args[0]}: ")
    assert "Traceback" not in done.stderr + done.stdout
    assert "Unclosed" not in done.stderr


@pytest.mark.parametrize(
    ("args", "says"), BAD_USAGE, ids=lambda v: " ".join(v) if isinstance(v, tuple) else ""
)
def test_bad_usage_is_one_line_and_exit_2(
    stopped_stack_env: dict[str, str], tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    done, lines = run_verb(stopped_stack_env, tmp_path, args)
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert says in lines[0]
    assert "Traceback" not in done.stderr


def test_size_needs_no_reps_and_answers_json(stopped_stack_env: dict[str, str]) -> None:
    done = run(
        stopped_stack_env, "pipeline", "size", "--target-revenue", "100000",
        "--avg-deal-size", "500", "--close-rate", "80%", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        '{"target_revenue":100000.0,"avg_deal_size":500.0,"close_rate":0.8,"reps":null,'
        '"deals":200,"leads":250,"leads_per_rep":null}'
    )


def test_debug_shows_the_traceback(stopped_stack_env: dict[str, str]) -> None:
    done = run(stopped_stack_env, "leads", "--debug")
    assert done.returncode == 1
    assert "Traceback" in done.stderr

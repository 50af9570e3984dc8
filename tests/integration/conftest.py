"""The real local Kafka broker and Redis server, started once per test session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.worker_process import WorkerProcess
from workers.devstack import LocalStack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    local = LocalStack.create(tmp_path_factory.mktemp("stack"))
    local.start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def prefix() -> str:
    """A topic prefix of its own for each test, so tests never see each other's records."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def worker_env(stack: LocalStack, prefix: str, tmp_path: Path) -> dict[str, str]:
    return {
        **stack.env(),
        "DEALSTREAM_TOPIC_PREFIX": prefix,
        "DEALSTREAM_APP_ID": f"{prefix}dealstream",
        "DEALSTREAM_PARTITIONS": "4",
        "DEALSTREAM_DATA_DIR": str(tmp_path / "data"),
        "DEALSTREAM_LOG_LEVEL": "info",
    }


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    """Started workers of a test; whatever is still running at the end is killed."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.kill()
    for worker in started:  # an un-awaited coroutine is a bug, even when nothing else failed
        worker.assert_no_runtime_warning()

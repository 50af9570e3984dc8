"""The allocator a backtest's replay processes start with (workers/backtest/allocator.py)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from workers.backtest import allocator, parallel
from workers.backtest.allocator import Host, environment
from workers.backtest.errors import BacktestError
from workers.backtest.history import Bounds, Extent
from workers.backtest.replay import Window
from workers.engine.records import Record
from workers.settings import Settings
from workers.settings.errors import SettingsError

from .test_backtest import T0, rules

EVERYTHING = Host({"jemalloc": "libjemalloc.so.2", "mimalloc": "libmimalloc.so.2"}, "madvise")
MIMALLOC = Host({"mimalloc": "libmimalloc.so.2"}, "always")
BARE = Host({}, "madvise")


def test_auto_takes_jemalloc_with_huge_pages_first() -> None:
    assert environment("auto", {}, EVERYTHING) == {
        "PYTHONMALLOC": "malloc",
        "LD_PRELOAD": "libjemalloc.so.2",
        "MALLOC_CONF": "thp:always,metadata_thp:always",
    }


def test_auto_without_jemalloc_takes_mimalloc_else_pythons() -> None:
    assert environment("auto", {}, MIMALLOC) == {
        "PYTHONMALLOC": "malloc",
        "LD_PRELOAD": "libmimalloc.so.2",
        "MIMALLOC_LARGE_OS_PAGES": "1",
        "MIMALLOC_ALLOW_LARGE_OS_PAGES": "1",
    }
    assert environment("auto", {}, BARE) == {}


@pytest.mark.parametrize("mode", ["never", ""])
def test_auto_does_nothing_without_huge_pages(mode: str) -> None:
    assert environment("auto", {}, Host(EVERYTHING.libraries, mode)) == {}


@pytest.mark.parametrize("variable", ["PYTHONMALLOC", "LD_PRELOAD"])
def test_auto_leaves_an_allocator_the_user_chose(variable: str) -> None:
    assert environment("auto", {variable: "x"}, EVERYTHING) == {}


def test_a_named_allocator_keeps_the_users_own_options_after_ours() -> None:
    environ = {"LD_PRELOAD": "libmine.so", "MALLOC_CONF": "narenas:1"}
    jemalloc = environment("jemalloc", environ, EVERYTHING)
    assert jemalloc["LD_PRELOAD"] == "libjemalloc.so.2:libmine.so"
    assert jemalloc["MALLOC_CONF"] == "thp:always,metadata_thp:always,narenas:1"
    mimalloc = environment("mimalloc", {}, EVERYTHING)
    assert mimalloc["LD_PRELOAD"] == "libmimalloc.so.2"
    assert mimalloc["MIMALLOC_LARGE_OS_PAGES"] == "1"
    assert environment("python", environ, EVERYTHING) == {}


@pytest.mark.parametrize(
    ("choice", "host", "line"),
    [
        (
            "jemalloc",
            BARE,
            "libjemalloc not found (Debian and Ubuntu: apt-get install libjemalloc2)",
        ),
        ("mimalloc", BARE, "libmimalloc not found"),
    ],
)
def test_a_named_allocator_this_machine_lacks_is_one_line(
    choice: str, host: Host, line: str
) -> None:
    with pytest.raises(
        BacktestError, match=f"DEALSTREAM_BACKTEST_ALLOCATOR={choice}: .*{re.escape(line)}"
    ):
        environment(choice, {}, host)


def test_a_misspelt_allocator_is_refused_at_start_up_with_the_close_name() -> None:
    with pytest.raises(
        SettingsError, match=r"BACKTEST_ALLOCATOR='jemaloc'.*did you mean 'jemalloc'"
    ):
        Settings.from_env({"DEALSTREAM_BACKTEST_ALLOCATOR": "jemaloc"})


def test_the_variables_are_set_while_processes_start_then_as_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MALLOC_CONF", "mine")
    monkeypatch.delenv("PYTHONMALLOC", raising=False)
    with allocator.applied({"MALLOC_CONF": "thp:always,mine", "PYTHONMALLOC": "malloc"}):
        assert os.environ["MALLOC_CONF"] == "thp:always,mine"
        assert os.environ["PYTHONMALLOC"] == "malloc"
    assert os.environ["MALLOC_CONF"] == "mine"  # as it was
    assert "PYTHONMALLOC" not in os.environ


def what_the_process_runs_with(s: Settings, bounds: Any) -> AsyncIterator[list[tuple[int, Record]]]:
    """A source that reports the allocator of the replay's process, as its error line."""
    with open("/proc/self/maps") as maps:
        libraries = sorted({line.rsplit("/", 1)[-1].strip() for line in maps if "malloc" in line})
    raise ValueError(f"PYTHONMALLOC={os.environ.get('PYTHONMALLOC')} mapped={libraries}")


@pytest.mark.parametrize("choice", ["auto", "python"])
def test_replay_processes_start_with_the_allocator_chosen(tmp_path: Any, choice: str) -> None:
    """Each rule set's process runs with the variables `environment` gives on this machine
    (jemalloc preloaded where `auto` finds it), and this process keeps its own."""
    s = Settings.from_env({
        "DEALSTREAM_BROKERS": "127.0.0.1:9", "DEALSTREAM_STORE": "memory",
        "DEALSTREAM_DATA_DIR": str(tmp_path), "DEALSTREAM_BACKTEST_ALLOCATOR": choice,
    })  # fmt: skip
    expected = environment(choice, os.environ, allocator.probe())
    before = dict(os.environ)
    with pytest.raises(BacktestError) as raised:
        parallel.replay(s, {"old": rules("a")}, Window(T0), 60.0, Bounds({}, Extent({})), None,
                        2, what_the_process_runs_with)  # fmt: skip
    assert f"PYTHONMALLOC={expected.get('PYTHONMALLOC')} " in str(raised.value)
    preloaded = expected.get("LD_PRELOAD", "").split(":")[0]
    if preloaded:
        assert preloaded.split(".so")[0] in str(raised.value)
    assert dict(os.environ) == before

"""Metrics remember their labelled children, and forget them when cleared or removed."""

from __future__ import annotations

from prometheus_client import generate_latest

from workers.observability.metrics import Metrics


def lines(m: Metrics, name: str) -> list[str]:
    return [x for x in generate_latest(m.registry).decode().splitlines() if x.startswith(name)]


def test_a_child_is_remembered_and_a_cleared_one_is_made_anew() -> None:
    m = Metrics()
    child = m.events_valid.labels("crm.contacts")
    assert m.events_valid.labels("crm.contacts") is child
    child.inc(2)
    m.events_valid.labels(topic="crm.contacts").inc()  # by name: the same series
    assert lines(m, "dealstream_events_valid_total") == [
        'dealstream_events_valid_total{topic="crm.contacts"} 3.0'
    ]
    lag = m.consumer_lag.labels("crm.contacts", "0")
    lag.set(5)
    m.consumer_lag.clear()
    m.consumer_lag.labels("crm.contacts", "0").set(7)
    lag.set(9)  # the old child is gone from the family: it changes nothing
    assert lines(m, "dealstream_consumer_lag_messages{") == [
        'dealstream_consumer_lag_messages{partition="0",topic="crm.contacts"} 7.0'
    ]
    m.consumer_lag.remove("crm.contacts", "0")
    assert lines(m, "dealstream_consumer_lag_messages{") == []
    m.consumer_lag.labels("crm.contacts", "0").set(1)
    assert len(lines(m, "dealstream_consumer_lag_messages{")) == 1

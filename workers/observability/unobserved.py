"""Metrics that record nothing, for a worker no one scrapes (a backtest's shadow workers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import prometheus_client

from workers.observability.metrics import Metrics


class _Unobserved:
    """A metric that records nothing: every method (`labels`, `inc`, `set`, `observe`, ...)
    does nothing and returns the metric, and `time()` is a context that times nothing."""

    def __getattr__(self, name: str) -> Callable[..., _Unobserved]:
        return self._nothing

    def _nothing(self, *args: Any, **kwargs: Any) -> _Unobserved:
        return self

    # the handlers' calls, found without `__getattr__` (which runs only after a failed lookup)
    labels = inc = dec = set = observe = _nothing

    def __enter__(self) -> _Unobserved:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class UnobservedMetrics(Metrics):
    """The metrics of a worker no one scrapes (a backtest's shadow workers): the same
    attributes, each recording nothing, so the handlers' metric calls cost next to nothing."""

    def __init__(self) -> None:
        super().__init__()
        unobserved = _Unobserved()
        for name, value in list(vars(self).items()):
            if isinstance(value, prometheus_client.metrics.MetricWrapperBase):
                setattr(self, name, unobserved)

"""Prometheus metrics. Names: `dealstream_` prefix, base units, counters end in `_total`."""

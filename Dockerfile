# dealstream worker image: slim, non-root, pinned base, the same lock as CI (constraints.txt).
FROM python:3.11.7-slim-bookworm AS build
# the native core (workers/native, Rust): the toolchain from the official image, a C linker
COPY --from=rust:1.95-slim-bookworm /usr/local/cargo /usr/local/cargo
COPY --from=rust:1.95-slim-bookworm /usr/local/rustup /usr/local/rustup
ENV CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup PATH=/usr/local/cargo/bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY workers ./workers
COPY schemas ./schemas
RUN pip install --no-cache-dir --upgrade pip==25.3 \
 && pip wheel --no-cache-dir -c constraints.txt --wheel-dir /wheels . ./workers/native

FROM python:3.11.7-slim-bookworm
# jemalloc: a backtest's replay processes run on it, with huge pages (workers/backtest/allocator.py)
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 dealstream \
 && mkdir -p /var/lib/dealstream && chown dealstream /var/lib/dealstream
COPY --from=build /wheels /wheels
COPY constraints.txt /tmp/constraints.txt
RUN pip install --no-cache-dir --no-index --find-links /wheels -c /tmp/constraints.txt dealstream dealstream-core \
 && rm -rf /wheels /tmp/constraints.txt
USER dealstream
WORKDIR /home/dealstream
ENV DEALSTREAM_DATA_DIR=/var/lib/dealstream \
    DEALSTREAM_WEB_HOST=0.0.0.0 \
    DEALSTREAM_WEB_PORT=6066 \
    PYTHONUNBUFFERED=1
EXPOSE 6066
VOLUME ["/var/lib/dealstream"]
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:6066/healthz').status == 200 else 1)"
ENTRYPOINT ["dealstream"]
CMD ["worker"]

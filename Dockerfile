# syntax=docker/dockerfile:1
# The worker image: `toolformer worker` against KAFKA_BOOTSTRAP_SERVERS and REDIS_URL.
#
#   docker build -t async-toolformer:0.1.0 .
#   docker run --rm -e KAFKA_BOOTSTRAP_SERVERS=... -e REDIS_URL=... async-toolformer:0.1.0
#
# Two stages. The first installs into a virtual environment exactly the dependencies
# of infra/requirements.lock, every file checked against its sha256 (--require-hashes),
# then the project itself without resolving anything (--no-deps), and checks that the
# lock satisfies the project (pip check). It has a compiler because faust-streaming
# ships no arm64 wheel: there it is built from its hash-checked sdist (the build tools
# pip fetches for that are not hash-checked; on amd64 every dependency is a wheel).
# The second stage copies that environment, so no compiler and no pip cache ship.
# infra/README.md tells how to regenerate the lock file after changing dependencies.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The compiler is whatever the base image's Debian release ships; it never reaches the runtime.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY infra/requirements.lock ./requirements.lock
RUN pip install --require-hashes --no-deps -r requirements.lock
# Only what the package build reads (pyproject's `readme` needs README.md).
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY agents ./agents
COPY streams ./streams
RUN pip install --no-deps . \
 && pip check


FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="async-toolformer" \
      org.opencontainers.image.description="Runs LLM tool calls in parallel over Kafka" \
      org.opencontainers.image.licenses="Apache-2.0"
# User tool modules (TOOLFORMER_TOOLS='["mytools"]') are imported from PYTHONPATH:
# mount them at /opt/toolformer/tools, or COPY them in an image built FROM this one.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/opt/toolformer/tools \
    TOOLFORMER_METRICS_PORT=9464

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 toolformer \
 && useradd --system --uid 10001 --gid toolformer --no-create-home \
        --home-dir /var/lib/toolformer --shell /usr/sbin/nologin toolformer \
 && mkdir -p /var/lib/toolformer /opt/toolformer/tools \
 && chown toolformer:toolformer /var/lib/toolformer

# The same base image as the build stage, so the environment's python link resolves.
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
RUN toolformer --help >/dev/null

USER 10001:10001
# Faust keeps its data directory (<group id>-data) in the working directory: it must be writable.
WORKDIR /var/lib/toolformer
EXPOSE 9464

# /metrics answers once the worker is up. 127.0.0.1 works whichever address the
# metrics server binds, so this check does not depend on TOOLFORMER_METRICS_HOST.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/metrics' % os.environ.get('TOOLFORMER_METRICS_PORT', '9464'), timeout=4)"]

# Exec form: toolformer is PID 1 and gets SIGTERM itself; it stops taking calls,
# lets running ones finish for about 10 s, then leaves the consumer group.
ENTRYPOINT ["toolformer"]
CMD ["worker"]

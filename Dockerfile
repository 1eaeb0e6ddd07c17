# syntax=docker/dockerfile:1
#
# The driftline worker image.
#
#   docker build -t driftline:local .
#   docker run --rm -v "$PWD/deploy/driftline.yaml:/etc/driftline/driftline.yaml:ro" -p 9464:9464 driftline:local
#
# Stage "build" has the compilers: it builds a wheel of driftline and of every dependency.
# Stage "runtime" installs those wheels, offline, into a venv; it has no compilers, and runs as uid 10001.
# The configuration must set metrics.host: 0.0.0.0, or /metrics is reachable only from inside the container.

FROM python:3.11.11-slim-bookworm AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels .


FROM python:3.11.11-slim-bookworm AS runtime

LABEL org.opencontainers.image.title="driftline" \
      org.opencontainers.image.description="Streaming model monitoring: drift, model quality and alerting on Kafka" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV VIRTUAL_ENV=/opt/driftline \
    PATH=/opt/driftline/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The wheels are bind-mounted from the build stage, so they never become a layer of this image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv "$VIRTUAL_ENV" \
 && pip install --no-cache-dir --no-index --find-links=/wheels driftline \
 && groupadd --gid 10001 driftline \
 && useradd --uid 10001 --gid 10001 --no-log-init --no-create-home \
            --home-dir /var/lib/driftline --shell /usr/sbin/nologin driftline \
 && install -d -o 10001 -g 10001 /var/lib/driftline \
 && install -d /etc/driftline \
 && driftline --version

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

WORKDIR /var/lib/driftline
USER 10001:10001

# /metrics and /healthz (metrics.port in the configuration).
EXPOSE 9464

# slim has no curl: probe /healthz with the venv's python.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["driftline"]
CMD ["worker", "--config", "/etc/driftline/driftline.yaml"]

# syntax=docker/dockerfile:1
# Baton production image: `baton serve` on port 8000 by default, `baton worker` with the same image.
#
#   docker build -t baton .
#   docker run -p 8000:8000 -v baton-data:/data \
#     -v "$PWD/baton.yml:/app/baton.yml:ro" --env-file baton.env baton
#   docker run -v baton-worker:/data --env-file baton.env baton baton worker
#
# SQLite under /data by default; set BATON_DATABASE_URL=postgresql://... to share runs between one
# `baton serve` and any number of `baton worker` containers (docker-compose.yml does exactly that).
#
# Two stages: `build` turns the build context into a wheel (plus wheels of its pinned dependencies);
# the runtime stage installs those wheels offline and carries no source tree, compiler or pip cache.

# -- build: the wheel of this checkout, and its dependencies' wheels ------------------------------
FROM python:3.11-slim AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
# Exactly what the wheel packages (pyproject: bot, handlers; README is the package's readme).
COPY pyproject.toml README.md ./
COPY bot/ ./bot/
COPY handlers/ ./handlers/
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# -- runtime ---------------------------------------------------------------------------------------
FROM python:3.11-slim

LABEL org.opencontainers.image.title="baton" \
      org.opencontainers.image.description="Self-hosted ChatOps control plane for coding agents" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

# git is how Baton clones, commits and pushes (openssh-client for git@host: URLs); bubblewrap is
# `sandbox: bwrap` for agents; tini is PID 1, so `docker stop` reaches `baton worker` as SIGTERM
# and exited agent processes are reaped. The Debian packages are not version-pinned: the archive
# keeps only the current security release, so a pin would break the build on the next fix.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates bubblewrap tini \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid so volume ownership and `runAsUser` in orchestrators are predictable.
RUN groupadd --system --gid 10001 baton \
    && useradd --system --uid 10001 --gid baton --home-dir /data --shell /usr/sbin/nologin baton \
    && mkdir -p /data \
    && chown baton:baton /data

WORKDIR /app

# The wheels come from the build stage through a bind mount: installed, never copied into a layer.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/baton-*.whl

ENV BATON_HOME=/data \
    BATON_CONFIG=/app/baton.yml \
    BATON_LOG_FORMAT=json
VOLUME ["/data"]

# The baton user, by number: runtimes can then verify it is not root (Kubernetes runAsNonRoot).
USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["baton", "serve", "--host", "0.0.0.0", "--port", "8000"]

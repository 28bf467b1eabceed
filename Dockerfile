# Baton production image: `baton serve` on port 8000 by default, `baton worker` with the same image.
#
#   make image            # wheels built on the host, then `docker build` -> baton:local
#   docker run -p 8000:8000 -v baton-data:/data \
#     -v "$PWD/baton.yml:/app/baton.yml:ro" --env-file baton.env baton:local
#   docker run -v baton-worker:/data --env-file baton.env baton:local baton worker
#
# Agents confined with `isolation: bwrap` need a container that lets bubblewrap make namespaces
# and mount its own /proc: `--security-opt seccomp=unconfined --security-opt systempaths=unconfined`,
# plus `--security-opt apparmor=unconfined` on AppArmor hosts (docs/operations.md, "In a container";
# docker-compose.yml gives them to the workers).
#
# SQLite under /data by default; set BATON_DATABASE_URL=postgresql://... to share runs between one
# `baton serve` and any number of `baton worker` containers (docker-compose.yml does exactly that).
#
# The build context is only build/image/wheels: the wheel of this checkout and of its pinned
# dependencies, built on the host by `make image` (no index is reached during the build). Two stages:
# `build` installs those wheels offline into a virtualenv; the runtime stage copies that virtualenv
# and carries no wheels, source tree, compiler or pip cache. Neither needs BuildKit.

# The official Python image; `make image` passes an equivalent Debian bookworm base it builds itself
# (docker/base-image.sh) when this one cannot be pulled.
ARG BASE_IMAGE=python:3.11-slim

# -- build: this checkout and its dependencies, installed offline into /opt/baton -----------------
FROM ${BASE_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

COPY build/image/wheels/ /wheels/
RUN python3 -m venv /opt/baton \
    && /opt/baton/bin/pip install --no-cache-dir --no-index --find-links=/wheels /wheels/baton-*.whl

# -- runtime ---------------------------------------------------------------------------------------
FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="baton" \
      org.opencontainers.image.description="Self-hosted ChatOps control plane for coding agents" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

# git is how Baton clones, commits and pushes (openssh-client for git@host: URLs); bubblewrap is
# `isolation: bwrap` for agents; tini is PID 1, so `docker stop` reaches `baton worker` as SIGTERM
# and exited agent processes are reaped. Only the missing ones are installed: the base
# docker/base-image.sh builds carries them all, so that build reaches no package mirror. Not
# version-pinned: the archive keeps only the current security release, so a pin would break the
# build on the next fix.
ARG RUNTIME_PACKAGES="git openssh-client ca-certificates bubblewrap tini"
# hadolint ignore=DL3008,SC2086
RUN missing=""; \
    for p in $RUNTIME_PACKAGES; do \
      [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing="$missing $p"; \
    done; \
    if [ -n "$missing" ]; then \
      apt-get update \
      && apt-get install -y --no-install-recommends $missing \
      && rm -rf /var/lib/apt/lists/*; \
    fi

# A fixed uid/gid so volume ownership and `runAsUser` in orchestrators are predictable.
RUN groupadd --system --gid 10001 baton \
    && useradd --system --uid 10001 --gid baton --home-dir /data --shell /usr/sbin/nologin baton \
    && mkdir -p /data \
    && chown baton:baton /data

WORKDIR /app

COPY --from=build /opt/baton /opt/baton

ENV PATH=/opt/baton/bin:$PATH \
    BATON_HOME=/data \
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

#!/usr/bin/env bash
# A Docker engine this user can reach, for `make image` and the image test (tests/e2e/test_image.py):
# the docker CLI, a daemon that answers, and docker-compose (the test validates docker-compose.yml
# with it). What is missing is installed from Debian's packages (docker.io, docker-compose) and a
# daemon that does not answer is started, when this runs as root or with passwordless sudo;
# otherwise it says what is missing and fails.
#
# A daemon started here has no default bridge network and leaves the firewall and IP forwarding
# alone (--bridge=none --iptables=false --ip-forward=false): Baton's builds and tests use the host's
# network, and a container that asks for no network cannot reach anything. Log: /var/log/dockerd.log.
set -euo pipefail

as_root=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo -n"
  else
    as_root="none"
  fi
fi

install() {
  if [ "$as_root" = none ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "engine: missing:$* (install Debian's $* or Docker Engine; root or sudo was not available)" >&2
    exit 1
  fi
  echo "engine: installing $*" >&2
  # shellcheck disable=SC2086  # $as_root is empty or "sudo -n"; the package names are words
  DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends "$@" >&2 \
    || { $as_root apt-get update -qq >&2 \
      && DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends "$@" >&2; }
}

answers() { docker info >/dev/null 2>&1; }

missing=()
if ! command -v docker >/dev/null 2>&1 || { ! answers && ! command -v dockerd >/dev/null 2>&1; }; then
  missing+=(docker.io)
fi
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  install "${missing[@]}"
fi

if answers; then
  exit 0
fi
if docker info 2>&1 | grep -qi 'permission denied'; then
  echo "engine: a Docker daemon runs but this user may not use its socket (join the docker group)" >&2
  exit 1
fi
if [ "$as_root" = none ]; then
  echo "engine: no Docker daemon answers and this user cannot start one (root or sudo needed)" >&2
  exit 1
fi
log=/var/log/dockerd.log
pidfile=/var/run/docker.pid
# A daemon killed outright (a machine's processes ended between sessions) leaves its pid file; once
# that pid is another process's, dockerd would refuse to start.
if [ -f "$pidfile" ] && [ "$(cat "/proc/$(cat "$pidfile")/comm" 2>/dev/null)" != dockerd ]; then
  $as_root rm -f "$pidfile"
fi
echo "engine: starting dockerd (log: $log)" >&2
# setsid: the daemon outlives this script and whatever process group ran it (make, a test).
$as_root sh -c 'setsid dockerd --bridge=none --iptables=false --ip-forward=false >>"$1" 2>&1 </dev/null &' sh "$log"
for _ in $(seq 1 120); do
  if answers; then
    exit 0
  fi
  sleep 0.5
done
echo "engine: dockerd did not answer within 60 s; its log ($log) ends:" >&2
$as_root tail -n 20 "$log" >&2 || true
exit 1

#!/usr/bin/env bash
# Prints the base image `make image` builds on (stdout: the image reference only; progress on stderr).
#
# The Dockerfile's own base (ARG BASE_IMAGE, the official python:3.11-slim) when docker has it or can
# pull it. Where no image registry is reachable, an equivalent built here instead: Debian bookworm
# (whose python3 is 3.11) by debootstrap, with venv, `python`, and the runtime packages the Dockerfile
# installs (ARG RUNTIME_PACKAGES) already in, bookworm-updates and security fixes applied, imported
# with `docker import`. Its tag carries a hash of this script and that package list, so a second
# `make image` reuses it (`docker image inspect` first) and a change to either builds a new one.
#
#   BASE_IMAGE=ref              use that base: no pull, no build
#   BASE_PULL_TIMEOUT=120       seconds a pull of the official base may take before falling back
#   DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR   where debootstrap and apt fetch packages
#
# Building the fallback needs root (or passwordless sudo): debootstrap and chroot do.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/.."

if [ -n "${BASE_IMAGE:-}" ]; then
  echo "$BASE_IMAGE"
  exit 0
fi
official=$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)
packages=$(sed -n 's/^ARG RUNTIME_PACKAGES="\(.*\)"$/\1/p' Dockerfile)
if [ -z "$official" ] || [ -z "$packages" ]; then
  echo "base-image: the Dockerfile has no ARG BASE_IMAGE or ARG RUNTIME_PACKAGES" >&2
  exit 1
fi
key=$({ cat "$self"; echo "$packages"; } | sha256sum | cut -c1-12)
fallback="baton-base:bookworm-python3.11-$key"

have() { docker image inspect "$1" >/dev/null 2>&1; }
if have "$official"; then echo "$official"; exit 0; fi
if have "$fallback"; then echo "$fallback"; exit 0; fi
if timeout "${BASE_PULL_TIMEOUT:-120}" docker pull --quiet "$official" >&2; then
  echo "$official"
  exit 0
fi
echo "base-image: $official cannot be pulled; building $fallback (debootstrap of Debian bookworm)" >&2

as_root=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo -n"
  else
    echo "base-image: building $fallback needs root (debootstrap); run as root or pass BASE_IMAGE=" >&2
    exit 1
  fi
fi
if ! command -v debootstrap >/dev/null 2>&1; then
  $as_root apt-get install -y -qq --no-install-recommends debootstrap >&2 \
    || { $as_root apt-get update -qq >&2 && $as_root apt-get install -y -qq --no-install-recommends debootstrap >&2; }
fi

work=$(mktemp -d "${TMPDIR:-/var/tmp}/baton-base.XXXXXX")
rootfs="$work/rootfs"
cleanup() {
  $as_root umount "$rootfs/proc" 2>/dev/null || true
  $as_root rm -rf "$work"
}
trap cleanup EXIT

mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
# minbase: what Debian calls required (dpkg, apt, passwd for useradd, ...), as the official slim image.
$as_root debootstrap --variant=minbase --include="python3,python3-venv,python-is-python3,${packages// /,}" \
  bookworm "$rootfs" "$mirror" >&2

# The suites the official image follows, so this base has the same fixes and a derived image can
# `apt-get install` more.
$as_root rm -f "$rootfs/etc/apt/sources.list"
$as_root tee "$rootfs/etc/apt/sources.list.d/debian.sources" >/dev/null <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
$as_root mount -t proc proc "$rootfs/proc"
$as_root chroot "$rootfs" sh -c 'apt-get update -qq \
  && DEBIAN_FRONTEND=noninteractive apt-get upgrade -y -qq --no-install-recommends \
  && apt-get clean && rm -rf /var/lib/apt/lists/*' >&2
$as_root umount "$rootfs/proc"
# The host's own files debootstrap copied in: a container gets its own from the engine.
$as_root sh -c ': > "$1/etc/resolv.conf"; : > "$1/etc/hostname"' sh "$rootfs"

$as_root tar -C "$rootfs" --numeric-owner -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "Debian bookworm + python3.11 for baton (docker/base-image.sh)" \
  - "$fallback" >&2
echo "$fallback"

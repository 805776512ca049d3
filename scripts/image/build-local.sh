#!/usr/bin/env bash
# Build the leadgen container image on a machine with no Docker engine and no reachable registry.
#
# What it does, each step only when still needed (safe to run again):
#   1. installs podman, runc and debootstrap from Debian's packages;
#   2. configures podman for this kind of machine (runc, cgroupfs, no default ulimits);
#   3. makes a Debian bookworm base image with Python 3.11 from the machine's own apt mirror and
#      imports it as localhost/leadgen-base:bookworm (made once, then reused while its recipe holds);
#   4. builds the app image from the repository's Dockerfile with that base, passing the host's pip
#      index configuration into the build (a local file index is mounted read-only).
#
# Anywhere Docker Hub is reachable the same Dockerfile builds with its default, pinned base:
#   docker buildx build -t leadgen:dev .
#
# Usage: scripts/image/build-local.sh [--base-only] [--rebuild-base] [--no-cache] [--tag IMAGE]
# Environment: LEADGEN_IMAGE (default localhost/leadgen:dev),
#              LEADGEN_BASE_IMAGE (default localhost/leadgen-base:bookworm).
# Prints the built image's name on the last line of its output.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
IMAGE="${LEADGEN_IMAGE:-localhost/leadgen:dev}"
BASE_IMAGE="${LEADGEN_BASE_IMAGE:-localhost/leadgen-base:bookworm}"
SUITE="bookworm"
BASE_PACKAGES="python3,python3-venv,ca-certificates,netbase,tzdata"
# Bump when make_base_image changes what the base holds: a base made by an older recipe is made
# again, so every machine measures the same base.
BASE_RECIPE=2
BASE_ONLY=0
REBUILD_BASE=0
NO_CACHE=()

log() { printf '[build-local] %s\n' "$*" >&2; }
die() { printf '[build-local] error: %s\n' "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --base-only) BASE_ONLY=1 ;;
    --rebuild-base) REBUILD_BASE=1 ;;
    --no-cache) NO_CACHE=(--no-cache) ;;
    --tag) shift; IMAGE="${1:?--tag needs an image name}" ;;
    -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
  shift
done

[[ "$(id -u)" -eq 0 ]] || die "run as root (podman runs rootful here; debootstrap needs root)"

# --- 1. packages -------------------------------------------------------------------------------
install_packages() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [[ -e /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
  if [[ ${#missing[@]} -eq 0 ]]; then
    return
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# --- 2. podman configuration ---------------------------------------------------------------------
PODMAN_SETTINGS='[containers]
default_ulimits = []
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"'

configure_podman() {
  local conf=/etc/containers/containers.conf
  local dropin=/etc/containers/containers.conf.d/50-leadgen.conf
  mkdir -p /etc/containers
  if [[ ! -s "$conf" ]]; then
    log "writing $conf"
    printf '# Written by scripts/image/build-local.sh for podman on this kind of machine.\n%s\n' \
      "$PODMAN_SETTINGS" >"$conf"
  elif ! podman_configured; then
    # Leave an operator's own file alone; a drop-in is read after it and wins.
    log "writing $dropin (overrides $conf)"
    mkdir -p "$(dirname "$dropin")"
    printf '# Written by scripts/image/build-local.sh.\n%s\n' "$PODMAN_SETTINGS" >"$dropin"
  fi
  podman_configured || die "podman is not using runc with cgroupfs; check $conf"
}

podman_configured() {
  [[ "$(podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}' 2>/dev/null)" \
    == "runc cgroupfs" ]]
}

# --- 3. local base image --------------------------------------------------------------------------
# The Debian mirror (and security mirror) this machine's apt already uses.
apt_mirror() {
  local suite="$1" fallback="$2"
  python3 - "$suite" "$fallback" <<'PY'
import glob
import sys

suite, fallback = sys.argv[1], sys.argv[2]
found = None
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")) + ["/etc/apt/sources.list"]:
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in text.split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    key, _, value = line.partition(":")
                    fields[key.strip().lower()] = value.split()
            if "deb" in fields.get("types", []) and suite in fields.get("suites", []):
                found = found or fields.get("uris", [None])[0]
    else:
        for line in text.splitlines():
            parts = [p for p in line.split() if not p.startswith("[")]
            if len(parts) >= 3 and parts[0] == "deb" and parts[2] == suite:
                found = found or parts[1]
print((found or fallback).rstrip("/"))
PY
}

make_base_image() {
  if [[ "$REBUILD_BASE" -eq 0 ]] && podman image exists "$BASE_IMAGE"; then
    if [[ "$(podman image inspect --format '{{ index .Labels "io.leadgen.base-recipe" }}' "$BASE_IMAGE")" \
      == "$BASE_RECIPE" ]]; then
      log "base image $BASE_IMAGE exists (use --rebuild-base to make it again)"
      return
    fi
    log "base image $BASE_IMAGE was made by an older recipe; making it again"
  fi
  local mirror security rootfs
  mirror="$(apt_mirror "$SUITE" http://deb.debian.org/debian)"
  security="$(apt_mirror "$SUITE-security" http://deb.debian.org/debian-security)"
  rootfs="$(mktemp -d /var/tmp/leadgen-base.XXXXXX)"
  # shellcheck disable=SC2064  # expand now: the path is fixed
  trap "rm -rf '$rootfs'" EXIT
  log "debootstrap $SUITE from $mirror into $rootfs (a few minutes, once)"
  debootstrap --variant=minbase --include="$BASE_PACKAGES" \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    "$SUITE" "$rootfs" "$mirror" >/var/tmp/leadgen-debootstrap.log 2>&1 \
    || { tail -20 /var/tmp/leadgen-debootstrap.log >&2; die "debootstrap failed"; }

  log "applying $SUITE-updates and $SUITE-security"
  cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
EOF
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
    sh -c 'apt-get update -qq && apt-get -y -qq upgrade >/dev/null && apt-get clean'

  # Trim what a container never reads, as the official slim images do (debian:bookworm-slim drops
  # docs, man pages, locales and lintian overrides; apt's lists are removed after every install).
  # Essential packages stay, perl-base, apt and dpkg among them, since the official image has them.
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/lintian/overrides/* "$rootfs"/var/log/* \
    "$rootfs"/tmp/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old
  # Debian compiles the standard library's bytecode when it installs python3 (about 13 MB); the
  # official image deletes all of it (find /usr/local ... -name '*.pyc' -exec rm), so neither base
  # has any and the app image brings the bytecode of what its processes import at start.
  find "$rootfs"/usr/lib/python3* -depth -type d -name __pycache__ -exec rm -rf {} +
  : >"$rootfs/etc/resolv.conf"
  printf 'leadgen-base\n' >"$rootfs/etc/hostname"

  log "importing $BASE_IMAGE"
  tar --numeric-owner --xattrs -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    --change "LABEL org.opencontainers.image.description=Debian $SUITE minbase with Python 3 (local stand-in for python:3.11-slim-bookworm)" \
    --change "LABEL io.leadgen.base-recipe=$BASE_RECIPE" \
    - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
  podman run --rm --network none "$BASE_IMAGE" python3 -c 'import ensurepip, ssl, sys; print(sys.version)' >&2
}

# --- 4. the app image ------------------------------------------------------------------------------
# Prints "--build-arg NAME=VALUE" / "--volume ..." lines mirroring the host's pip index settings.
pip_build_options() {
  python3 - <<'PY'
import configparser
import os
import shlex
import subprocess
import urllib.parse

values: dict[str, str] = {}
try:
    out = subprocess.run(
        ["python3", "-m", "pip", "config", "list"], capture_output=True, text=True, check=False
    ).stdout
except OSError:
    out = ""
for line in out.splitlines():
    key, _, raw = line.partition("=")
    name = key.split(".", 1)[-1]
    if name in {"index-url", "extra-index-url", "find-links", "trusted-host", "cert"}:
        try:
            values[name] = " ".join(shlex.split(raw))
        except ValueError:
            values[name] = raw.strip("'\"")
for name in ("index-url", "extra-index-url", "find-links", "trusted-host", "cert"):
    env = os.environ.get("PIP_" + name.upper().replace("-", "_"))
    if env:
        values[name] = env

mounts: set[str] = set()
for name in ("index-url", "extra-index-url", "find-links"):
    kept = []
    for item in values.get(name, "").split():
        parsed = urllib.parse.urlparse(item)
        path = parsed.path if parsed.scheme == "file" else (item if item.startswith("/") else "")
        if path:
            if not os.path.exists(path):
                continue  # a local index that is not on this machine: drop it
            # A PEP 503 index's pages link to files beside "simple/": mount its parent.
            path = path.rstrip("/")
            mounts.add(os.path.dirname(path) if os.path.basename(path) == "simple" else path)
        kept.append(item)
    if kept:
        print(f"--build-arg=PIP_{name.upper().replace('-', '_')}={' '.join(kept)}")
if values.get("trusted-host"):
    print(f"--build-arg=PIP_TRUSTED_HOST={values['trusted-host']}")
# A CA bundle pip must trust (e.g. a TLS-inspecting proxy's): mounted for the build only, never
# copied into a layer.
cert = values.get("cert", "")
if cert and os.path.isfile(cert):
    print("--build-arg=PIP_CERT=/run/leadgen-build/ca-bundle.pem")
    print(f"--volume={os.path.realpath(cert)}:/run/leadgen-build/ca-bundle.pem:ro")
for top in sorted(mounts):
    print(f"--volume={top}:{top}:ro")
PY
}

build_app_image() {
  [[ -f "$ROOT/requirements/runtime.lock" ]] || die "requirements/runtime.lock is missing (scripts/image/lock.sh)"
  local version revision source created
  version="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$ROOT/pyproject.toml")"
  revision="$(git -C "$ROOT" rev-parse --verify -q HEAD 2>/dev/null || echo unknown)"
  if [[ "$revision" != unknown ]] && ! git -C "$ROOT" diff --quiet HEAD 2>/dev/null; then
    revision="${revision}-dirty"
  fi
  # The OCI source label must be a URL people can open; a clone of a local path has none.
  source="${LEADGEN_IMAGE_SOURCE:-$(git -C "$ROOT" remote get-url origin 2>/dev/null || true)}"
  case "$source" in
    https://*|http://*|git@*) ;;
    *) source="https://github.com/leadgen/leadgen" ;;
  esac
  created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  local pip_opts=()
  mapfile -t pip_opts < <(pip_build_options)
  log "building $IMAGE (version $version, revision $revision) on $BASE_IMAGE"
  podman build "${NO_CACHE[@]}" --network host --pull=never --layers \
    --file "$ROOT/Dockerfile" \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    --build-arg "VERSION=$version" \
    --build-arg "REVISION=$revision" \
    --build-arg "SOURCE=$source" \
    --build-arg "CREATED=$created" \
    "${pip_opts[@]}" \
    --tag "$IMAGE" "$ROOT" >&2
  log "built $IMAGE: $(podman image inspect "$IMAGE" --format '{{.Size}}') bytes"
}

install_packages
configure_podman
make_base_image
if [[ "$BASE_ONLY" -eq 0 ]]; then
  build_app_image
  echo "$IMAGE"
else
  echo "$BASE_IMAGE"
fi

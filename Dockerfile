# syntax=docker/dockerfile:1
#
# One image for every leadgen target. The CLI is the entrypoint; the command chooses what runs:
#   leadgen serve --target api        one Kubernetes Deployment's worth (api, data-service, ...)
#   leadgen up                        everything in one process with embedded stores
#
# Build anywhere Docker Hub is reachable (default base below):
#   docker buildx build --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) -t leadgen:0.1.0 .
# Build on a machine without a registry: scripts/image/build-local.sh (a local Debian base image).
#
# The default base is the official Python image, pinned by tag and by the digest of its
# multi-platform index (linux/amd64 and linux/arm64). Refresh both together:
#   docker buildx imagetools inspect python:3.11-slim-bookworm   (the "Digest:" line)
ARG BASE_IMAGE=python:3.11.16-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

# ---------------------------------------------------------------------------------------------
# builder: a virtualenv with the locked dependencies, then the app's wheel
# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS builder

# Package index settings of the machine that builds (scripts/image/build-local.sh passes the host's).
ARG PIP_INDEX_URL=https://pypi.org/simple
ARG PIP_EXTRA_INDEX_URL=
ARG PIP_FIND_LINKS=
ARG PIP_TRUSTED_HOST=
ARG PIP_CERT=
# No bytecode but what compile_startup.py compiles (see below).
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DEFAULT_TIMEOUT=120 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1

# binutils' strip, to drop debug symbols from compiled extensions (builder only).
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv

# Dependencies first (a layer that changes only with the lock): every file hash-checked, wheels
# only, no bytecode. Then trim what the runtime never uses: the packages' own test suites (numpy,
# greenlet, aiosqlite, certifi), the holidays package's translations (5 MB; US holidays are
# named in English, the language of its source), type stubs (.pyi), C/C++/Cython sources, headers
# and static libraries (there is no compiler in the image to use them), and the debug symbols of compiled
# extensions (about 40 MB; the libraries auditwheel vendored in *.libs are left as they are, since
# strip can damage their patched headers).
COPY requirements/runtime.lock /build/runtime.lock
RUN /opt/venv/bin/pip install --no-compile --require-hashes --only-binary=:all: -r /build/runtime.lock \
 && find /opt/venv/lib -depth -type d \( -name tests -o -path '*/numpy/_core/include' -o -path '*/holidays/locale' \) \
        -exec rm -rf {} + \
 && find /opt/venv/lib -type f \( -name '*.pyi' -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pxi' \
        -o -name '*.c' -o -name '*.cpp' -o -name '*.h' -o -name '*.hpp' -o -name '*.a' \) -delete \
 && find /opt/venv/lib -type f -name '*.so' -not -path '*.libs/*' -exec strip --strip-unneeded {} +

# Then the app itself, as a wheel, without letting it pull anything the lock did not pin; the
# runtime needs no installer.
COPY pyproject.toml README.md /build/app/
COPY src /build/app/src
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /build/dist /build/app \
 && /opt/venv/bin/pip install --no-compile --no-deps --no-index /build/dist/*.whl \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
 && rm -rf /opt/venv/bin/pip* /opt/venv/bin/Activate.ps1 /opt/venv/share \
 && /opt/venv/bin/leadgen --help >/dev/null

# Bytecode only for the ~1900 modules the processes run at start (scripts/image/startup-modules.txt,
# refreshed by bench/image/startup_modules.py): 40 MB, where bytecode for every module was 60 MB
# (and no bytecode at all would cost each start ~2.7 s of CPU compiling). A module not listed is
# compiled in memory when first imported, as the root filesystem is read-only. The standard
# library's go to /build/stdlib-pyc, for the runtime stage's copy of the same base, which ships none.
COPY scripts/image/startup-modules.txt scripts/image/compile_startup.py /build/
RUN /opt/venv/bin/python /build/compile_startup.py /build/startup-modules.txt /build/stdlib-pyc

# ---------------------------------------------------------------------------------------------
# runtime: the base, the virtualenv, a non-root user; nothing writable but /tmp and the data dir
# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime

ARG VERSION=0.0.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/leadgen/leadgen
ARG CREATED=1970-01-01T00:00:00Z

LABEL org.opencontainers.image.title="leadgen" \
      org.opencontainers.image.description="Insurance lead platform: one image, one CLI, every service target." \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0"

# No installer in the image: the official base's interpreter has pip, setuptools and wheel in
# /usr/local (the local stand-in has none), and nothing here installs packages; the pip symlink
# they leave dangling beside the interpreter goes with them.
RUN export PYTHONDONTWRITEBYTECODE=1 PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
 && if python3 -m pip --version >/dev/null 2>&1; then \
      python3 -m pip uninstall --yes --quiet pip setuptools wheel \
      && find "$(dirname "$(command -v python3)")" -xtype l -delete; \
    fi \
 && ! python3 -m pip --version >/dev/null 2>&1

# UID/GID 10001, as the pod's securityContext (runAsUser/runAsGroup/fsGroup) sets them.
RUN groupadd --system --gid 10001 leadgen \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/leadgen \
        --shell /usr/sbin/nologin leadgen \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/leadgen \
 && install -d -o root -g 10001 -m 0750 /var/run/secrets/leadgen

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /build/stdlib-pyc/ /

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    LEADGEN_DATA_DIR=/var/lib/leadgen \
    LEADGEN_SECRETS_DIR=/var/run/secrets/leadgen \
    LEADGEN_HTTP_HOST=0.0.0.0

# Embedded stores (all-in-one mode) keep their files here; mount a volume (in a pod: an emptyDir
# or a PVC). The root filesystem can be read-only: only /tmp and this directory are written.
VOLUME ["/var/lib/leadgen"]
WORKDIR /var/lib/leadgen
USER 10001:10001

# api, data-service, orchestrator, backend, frontend; Prometheus metrics of every target on 9090.
EXPOSE 3000 3001 3002 8000 8080 9090
STOPSIGNAL SIGTERM

ENTRYPOINT ["leadgen"]
CMD ["up"]

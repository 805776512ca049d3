#!/usr/bin/env bash
# Run `leadgen k8s ARGS...`: the logic of every scripts/k8s/*.sh lives in the leadgen package
# (src/leadgen/ops); these scripts only find the CLI and hand over.
#
# Which leadgen runs, first match wins:
#   1. $LEADGEN_CLI, if set (an executable, e.g. a container wrapper);
#   2. the project's virtualenv: <repo>/.venv/bin/leadgen (this checkout's code);
#   3. `leadgen` on PATH.
# The overlays are this checkout's k8s/overlays, wherever the script is run from, unless
# $LEADGEN_K8S_OVERLAYS (the CLI's --overlays-dir) names others.
set -euo pipefail

repo_root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)"
export LEADGEN_K8S_OVERLAYS="${LEADGEN_K8S_OVERLAYS:-${repo_root}/k8s/overlays}"

if [[ -n "${LEADGEN_CLI:-}" ]]; then
    exec "${LEADGEN_CLI}" k8s "$@"
fi
if [[ -x "${repo_root}/.venv/bin/leadgen" ]]; then
    exec "${repo_root}/.venv/bin/leadgen" k8s "$@"
fi
if command -v leadgen >/dev/null 2>&1; then
    exec leadgen k8s "$@"
fi

cat >&2 <<MSG
error: the leadgen CLI was not found (not in ${repo_root}/.venv, not on PATH).
hint: install the project first, e.g.
        python3 -m venv .venv && .venv/bin/pip install -e .
      or set LEADGEN_CLI to the leadgen executable.
MSG
exit 127

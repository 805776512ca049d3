#!/usr/bin/env bash
# Health of an environment, pass/warn/fail per item; exit 0 if nothing failed, else 1.
# Example: scripts/k8s/health-check.sh prod --deep
# Thin wrapper around `leadgen k8s health-check` (src/leadgen/ops); `--help` lists every option.
set -euo pipefail
exec "$(dirname -- "${BASH_SOURCE[0]}")/_leadgen.sh" health-check "$@"

#!/usr/bin/env bash
# Roll a Deployment (or every one) back to the previous or a given revision, then verify.
# Example: scripts/k8s/rollback.sh prod api --to-revision 4
# Thin wrapper around `leadgen k8s rollback` (src/leadgen/ops); `--help` lists every option.
set -euo pipefail
exec "$(dirname -- "${BASH_SOURCE[0]}")/_leadgen.sh" rollback "$@"

#!/usr/bin/env bash
# Debug pods: list, logs (recent/all/follow/previous), describe, shell, port-forward, top.
# Example: scripts/k8s/debug.sh dev logs --service api --previous
# Thin wrapper around `leadgen k8s debug` (src/leadgen/ops); `--help` lists every option.
set -euo pipefail
exec "$(dirname -- "${BASH_SOURCE[0]}")/_leadgen.sh" debug "$@"

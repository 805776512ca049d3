#!/usr/bin/env bash
# Scale a Deployment, checked against its HorizontalPodAutoscaler's bounds.
# Example: scripts/k8s/scale.sh staging worker 3
# Thin wrapper around `leadgen k8s scale` (src/leadgen/ops); `--help` lists every option.
set -euo pipefail
exec "$(dirname -- "${BASH_SOURCE[0]}")/_leadgen.sh" scale "$@"

#!/usr/bin/env bash
# Deploy an environment: render and validate the overlay, diff, run the db-migrate Job,
# apply, wait for every rollout, health-check.  Example: scripts/k8s/deploy.sh staging
# Thin wrapper around `leadgen k8s deploy` (src/leadgen/ops); `--help` lists every option.
set -euo pipefail
exec "$(dirname -- "${BASH_SOURCE[0]}")/_leadgen.sh" deploy "$@"

#!/bin/sh
# Cluster mode: qdrant-0 founds the cluster, the others join it through qdrant-0. A peer that
# restarts with existing storage rejoins from its own Raft state.
set -eu
QDRANT__SERVICE__API_KEY="$(cat /var/run/secrets/qdrant/api-key)"
export QDRANT__SERVICE__API_KEY
domain="qdrant-headless.${POD_NAMESPACE}.svc.cluster.local"
me="http://${POD_NAME}.${domain}:6335"
cd /qdrant
if [ "${POD_NAME##*-}" = "0" ]; then
  exec ./entrypoint.sh --uri "$me"
fi
exec ./entrypoint.sh --bootstrap "http://qdrant-0.${domain}:6335" --uri "$me"

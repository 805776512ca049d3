#!/bin/sh
# The API key reaches Qdrant as a file; export it only into Qdrant's own process environment.
set -eu
QDRANT__SERVICE__API_KEY="$(cat /var/run/secrets/qdrant/api-key)"
export QDRANT__SERVICE__API_KEY
cd /qdrant
exec ./entrypoint.sh "$@"

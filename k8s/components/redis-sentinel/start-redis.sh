#!/bin/sh
# Sentinel mode. Before starting, ask any reachable Sentinel who the master is; if none answers
# (first start of the whole set), redis-0 is the master and the others replicate it.
set -eu
password="$(cat /var/run/secrets/redis/password)"
domain="redis-headless.${POD_NAMESPACE}.svc.cluster.local"
me="${POD_NAME}.${domain}"
master=""
for i in 0 1 2; do
  answer="$(redis-cli -h "redis-${i}.${domain}" -p 26379 --raw \
    sentinel get-master-addr-by-name leadgen 2>/dev/null | head -n 1 || true)"
  if [ -n "$answer" ]; then
    master="$answer"
    break
  fi
done
[ -n "$master" ] || master="redis-0.${domain}"
{
  echo "include /etc/redis/redis.conf"
  echo "requirepass \"$password\""
  echo "masterauth \"$password\""
  echo "replica-announce-ip $me"
  if [ "$master" != "$me" ]; then
    echo "replicaof $master 6379"
  fi
} > /run/redis/redis.conf
exec redis-server /run/redis/redis.conf

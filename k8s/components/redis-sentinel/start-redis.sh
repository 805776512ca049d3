#!/bin/sh
# Sentinel mode: a replica of whichever Redis the Sentinels name master (redis-0 on the first start).
set -eu
. /etc/redis/find-master.sh
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

#!/bin/sh
# Sentinel rewrites its config file at runtime, so it lives in an emptyDir; on restart it learns
# the current master from its peers (or assumes redis-0 on the very first start).
set -eu
. /etc/redis/find-master.sh
{
  echo "port 26379"
  echo "dir /run/sentinel"
  echo "sentinel resolve-hostnames yes"
  echo "sentinel announce-hostnames yes"
  echo "sentinel announce-ip $me"
  echo "sentinel monitor leadgen $master 6379 2"
  echo "sentinel auth-pass leadgen \"$password\""
  echo "sentinel down-after-milliseconds leadgen 5000"
  echo "sentinel failover-timeout leadgen 60000"
  echo "sentinel parallel-syncs leadgen 1"
} > /run/sentinel/sentinel.conf
exec redis-server /run/sentinel/sentinel.conf --sentinel

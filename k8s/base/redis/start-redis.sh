#!/bin/sh
# Writes the runtime config (base config + password from the Secret file) and starts Redis.
set -eu
password="$(cat /var/run/secrets/redis/password)"
{
  echo "include /etc/redis/redis.conf"
  echo "requirepass \"$password\""
  echo "masterauth \"$password\""
} > /run/redis/redis.conf
exec redis-server /run/redis/redis.conf

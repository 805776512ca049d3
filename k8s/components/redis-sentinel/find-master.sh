# Sourced by start-redis.sh and start-sentinel.sh: sets password, domain, me and master. Any
# reachable Sentinel names the current master; if none answers (first start of the whole set),
# redis-0 is the master.
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

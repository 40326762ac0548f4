#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis the services' tests use are answering; start whichever
# is not. Idempotent: does nothing when both are up. Never stops or restarts a running server.
set -euo pipefail

wait_for() {  # wait_for <what> <command...>
  local what=$1; shift
  for _ in $(seq 1 50); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "ensure-backing-services: $what did not come up" >&2
  return 1
}

if pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "postgresql: up on 127.0.0.1:5432"
else
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  echo "postgresql: starting cluster $version/main"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for postgresql pg_isready -h 127.0.0.1 -p 5432 -q
fi

if redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; then
  echo "redis: up on 127.0.0.1:6379"
else
  echo "redis: starting"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for redis sh -c 'redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG'
fi

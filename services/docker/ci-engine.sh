#!/usr/bin/env bash
# Make sure a Docker engine runs (for `make test-images`), installing Debian's docker.io and
# mmdebstrap first when they are missing. Called by .ci/run; harmless to run again.
#   dockerd runs without a bridge and without iptables rules: containers use the host network
#   and reach only 127.0.0.1 (the emulator, PostgreSQL). Its log: .state/dockerd.log
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v dockerd >/dev/null || ! command -v mmdebstrap >/dev/null; then
    echo "ci-engine: installing docker.io and mmdebstrap (Debian packages)"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io mmdebstrap >/dev/null
fi

if docker info >/dev/null 2>&1; then
    echo "ci-engine: Docker engine already running"
    exit 0
fi
mkdir -p .state
nohup dockerd --bridge=none --iptables=false >.state/dockerd.log 2>&1 </dev/null &
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        echo "ci-engine: dockerd started ($(docker version --format '{{.Server.Version}}'))"
        exit 0
    fi
    sleep 1
done
echo "ci-engine: dockerd did not answer within 60s; last lines of .state/dockerd.log:" >&2
tail -n 20 .state/dockerd.log >&2
exit 1

#!/usr/bin/env bash
# Build and smoke-test both images without any registry: `make test-images` (part of `make test`).
#
#   base     Debian bookworm + python3 made with mmdebstrap (Debian's mirror), `docker import`ed
#            as loopin-base:bookworm once per engine (set REBUILD_BASE=1 to redo it)
#   images   services/docker/build-images.sh with BASE_IMAGE=loopin-base:bookworm
#   smoke    services/docker/smoke_images.py: each image read-only, non-root, healthy, exit 0
#
# Without a Docker engine it says so and stops (exit 0) on a developer's machine; in CI
# (CI=true, where .ci/run installs and starts the engine) a missing engine is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

BASE=${LOCAL_BASE_IMAGE:-loopin-base:bookworm}
PYTHON=${PYTHON:-.venv/bin/python}

if ! docker info >/dev/null 2>&1; then
    if [ "${CI:-}" = "true" ]; then
        echo "images: no Docker engine answers, but CI must build the images (see .ci/run)" >&2
        exit 1
    fi
    echo "images: NOT BUILT - no Docker engine answers here (CI starts one; see .ci/run)"
    exit 0
fi

started=$(date +%s)
if [ "${REBUILD_BASE:-0}" = "1" ] || ! docker image inspect "$BASE" >/dev/null 2>&1; then
    command -v mmdebstrap >/dev/null || { echo "images: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
    t0=$(date +%s)
    tarball=$(mktemp --suffix=.tar)
    trap 'rm -f "$tarball"' EXIT
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        bookworm "$tarball" "deb http://deb.debian.org/debian bookworm main" \
        "deb http://deb.debian.org/debian bookworm-updates main" \
        "deb http://deb.debian.org/debian-security bookworm-security main"
    docker import --change 'CMD ["python3"]' --change 'LABEL org.loopin.stage=base' "$tarball" "$BASE" >/dev/null
    docker image prune --force --filter label=org.loopin.stage=base >/dev/null  # a replaced base
    echo "images: base $BASE made with mmdebstrap in $(( $(date +%s) - t0 ))s"
else
    echo "images: base $BASE already present (REBUILD_BASE=1 to remake it)"
fi

BASE_IMAGE="$BASE" PYTHON="$PYTHON" services/docker/build-images.sh
"$PYTHON" services/docker/smoke_images.py --tag "${IMAGE_TAG:-dev}"
echo "images: built and checked in $(( $(date +%s) - started ))s"

#!/usr/bin/env bash
# Build the web and worker images: `make images` (BASE_IMAGE=... to change the base).
#
# 1. A wheelhouse is built on the host (`pip wheel`) from the services' pinned runtime
#    requirements: everything in services/{web,worker}/requirements.txt above their `# tests`
#    line, plus the two packages themselves.
# 2. Each image is built from a staged context that holds only that wheelhouse, with
#    `--network host` and no pull: the build reaches no index and no registry beyond BASE_IMAGE.
set -euo pipefail
cd "$(dirname "$0")/../.."

BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim-bookworm}
TAG=${IMAGE_TAG:-dev}
PYTHON=${PYTHON:-.venv/bin/python}
STAGE=${IMAGE_STAGE:-.state/image-context}

runtime_requirements() {
    # Pinned runtime lines of each requirements file given (editable installs and the test section
    # excluded); the package itself is added by name, as its wheel sits in the wheelhouse.
    "$PYTHON" - "$@" <<'PY'
import sys

seen = {}
for path in sys.argv[1:]:
    for raw in open(path, encoding="utf-8"):
        line = raw.strip()
        if line.startswith("# tests"):
            break
        if not line or line.startswith("#") or line.startswith("-e"):
            continue
        name = line.split("==")[0].split("[")[0].lower()
        if name in seen and seen[name] != line:
            sys.exit(f"conflicting pins: {seen[name]} / {line}")
        seen[name] = line
print("\n".join(sorted(seen.values())))
PY
}

started=$(date +%s)
rm -rf "$STAGE"
mkdir -p "$STAGE/wheels"
{ runtime_requirements services/web/requirements.txt services/docker/requirements-base.txt
  echo "loopin-web==0.1.0"; } > "$STAGE/wheels/requirements-web.txt"
{ runtime_requirements services/web/requirements.txt services/worker/requirements.txt \
      services/docker/requirements-base.txt
  echo "loopin-web==0.1.0"; echo "loopin-worker==0.1.0"; } > "$STAGE/wheels/requirements-worker.txt"
cat "$STAGE/wheels/requirements-web.txt" "$STAGE/wheels/requirements-worker.txt" | sort -u \
    | grep -v '^loopin-' > "$STAGE/all.txt"
"$PYTHON" -m pip wheel --quiet --wheel-dir "$STAGE/wheels" -r "$STAGE/all.txt" \
    ./services/web ./services/worker
wheels_done=$(date +%s)
echo "images: wheelhouse ready in $((wheels_done - started))s ($(find "$STAGE/wheels" -name '*.whl' | wc -l) wheels)"

# Docker's own BuildKit needs the buildx plugin on recent clients; the classic builder needs
# nothing more and produces the same image from these Dockerfiles.
if ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
fi
for service in web worker; do
    t0=$(date +%s)
    docker build --quiet --pull=false --network host --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        -f "services/$service/Dockerfile" -t "loopin-$service:$TAG" "$STAGE" >/dev/null
    echo "images: loopin-$service:$TAG built in $(( $(date +%s) - t0 ))s from $BASE_IMAGE"
done
# Leftovers only: build stages, and earlier builds of these two images that lost their tag.
docker image prune --force --filter label=org.loopin.stage=build >/dev/null
for service in web worker; do
    docker image prune --force --filter "label=org.opencontainers.image.title=loopin-$service" >/dev/null
done
echo "images: total $(( $(date +%s) - started ))s"

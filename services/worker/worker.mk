# services/worker targets and the container images, included by services/services.mk from the
# top-level Makefile (which provides $(BIN), $(STAMP) and the local AWS_* variables).
WORKER_DIR := services/worker
DOCKERFILES := services/web/Dockerfile services/worker/Dockerfile
# The GitHub pipeline builds from this public image; `make test` builds offline from a base made
# with mmdebstrap (services/docker/build-local.sh).
BASE_IMAGE ?= python:3.11-slim-bookworm
SERVICES_TEST_TARGETS += test-worker lint-images test-images

.PHONY: lint-worker test-worker lint-images test-images images bench-worker worker push-status

lint-worker: $(STAMP) ## worker: ruff, ruff format, mypy
	$(BIN)/ruff check $(WORKER_DIR) services/docker
	$(BIN)/ruff format --check $(WORKER_DIR) services/docker
	$(BIN)/mypy --config-file $(WORKER_DIR)/pyproject.toml $(WORKER_DIR)/src

test-worker: lint-worker ## worker: pytest incl. the SIGKILL/SIGTERM proof (moto SQS, PostgreSQL, fake OneSignal)
	@if [ -x services/scripts/ensure-backing-services.sh ]; then services/scripts/ensure-backing-services.sh; fi
	cd $(WORKER_DIR) && $(BIN)/pytest

lint-images: $(STAMP) ## hadolint + Trivy config scan of both Dockerfiles: no finding of any severity
	$(BIN)/hadolint $(DOCKERFILES)
	@for dockerfile in $(DOCKERFILES); do \
	  $(BIN)/trivy config --quiet --skip-check-update --severity LOW,MEDIUM,HIGH,CRITICAL --exit-code 1 $$dockerfile \
	    || exit 1; \
	done
	@echo "lint-images: hadolint and trivy config found nothing in $(DOCKERFILES)"

test-images: $(STAMP) ## build both images offline (mmdebstrap base + wheelhouse), run them read-only, check health
	PYTHON=$(BIN)/python services/docker/build-local.sh

images: $(STAMP) ## build loopin-web:dev and loopin-worker:dev from BASE_IMAGE (IMAGE_TAG to change the tag)
	BASE_IMAGE=$(BASE_IMAGE) PYTHON=$(BIN)/python services/docker/build-images.sh

bench-worker: $(STAMP) ## worker: notifications/s vs a bare boto3 receive/delete loop on the same queue, peak RSS
	$(BIN)/python $(WORKER_DIR)/bench/bench_worker.py

worker: emulator-up ## run the worker against the emulator, local PostgreSQL and a fake OneSignal
	$(BIN)/python $(WORKER_DIR)/dev/run_local.py

push-status: emulator-up ## OneSignal outage alarm, pushes by provider, push queue and DLQ, the worker's PUSH_* settings (ENV=...)
	$(BIN)/python $(WORKER_DIR)/ops/push_status.py --env $(ENV)

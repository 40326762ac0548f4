# services/web targets, included by services/services.mk from the top-level Makefile
# (which provides $(BIN), $(STAMP) and the local AWS_* variables).
WEB_DIR := services/web
SERVICES_TEST_TARGETS += test-web

.PHONY: test-web lint-web bench-web dev

lint-web: $(STAMP) ## web service: ruff, ruff format, mypy
	$(BIN)/ruff check $(WEB_DIR)
	$(BIN)/ruff format --check $(WEB_DIR)
	cd $(WEB_DIR) && $(BIN)/mypy loopin_web

test-web: lint-web ## web service: pytest (API, fuzz, degradation) on real PostgreSQL/Redis + SQS emulator
	services/scripts/ensure-backing-services.sh
	cd $(WEB_DIR) && $(BIN)/pytest

bench-web: $(STAMP) ## web service: GET /v1/me from cache vs a bare FastAPI endpoint, one uvicorn worker
	services/scripts/ensure-backing-services.sh
	$(BIN)/python $(WEB_DIR)/bench/bench_web.py

dev: emulator-up ## run the web service on http://127.0.0.1:8000 against the emulator + local PostgreSQL/Redis
	services/scripts/ensure-backing-services.sh
	$(BIN)/python $(WEB_DIR)/bin/dev_web.py

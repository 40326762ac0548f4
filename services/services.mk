# Service targets. Each service adds its own file and registers its test target here, so the
# top-level `make test` runs them all: SERVICES_TEST_TARGETS += test-web
SERVICES_TEST_TARGETS :=
-include services/web/web.mk
-include services/worker/worker.mk

.PHONY: test-services
test-services: $(SERVICES_TEST_TARGETS) ## the services' own tests (real PostgreSQL, Redis, emulator)

# Delivery: blue/green deploy, rollback, scans, drift and the pipeline's stages, each
# callable alone so that every GitHub workflow step is a `make` target that also runs here.
#   make deploy ENV=staging IMAGE=<registry>/loopin/staging/web@sha256:... [WORKER_IMAGE=...]
#   make rollback ENV=staging [MODE=previous]
#   make pipeline ENV=local      the GitHub pipeline's stages, in order, on this machine
IMAGE ?=
comma := ,
WORKER_IMAGE ?=
DEPLOY_ARGS = -e image=$(IMAGE) $(if $(WORKER_IMAGE),-e worker_image=$(WORKER_IMAGE))
TRIVY_CACHE := $(CURDIR)/.state/trivy
TRIVY_SKIP := --skip-dirs .venv --skip-dirs .state --skip-dirs .cache

.PHONY: deploy rollback drill scan scan-image drift images-if-docker pipeline-seed pipeline ecr-login push-images \
        check-images scan-images promote-images

# The gate's progress line at every retry of a long bake (plugins/callback/deploy_progress.py).
DEPLOY_CALLBACKS := ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks,loopin.platform.plan_summary,loopin.platform.deploy_progress

deploy: emulator-up ## blue/green deploy of IMAGE (by digest) to ENV: make deploy ENV=dev IMAGE=...@sha256:...
	@test -n "$(IMAGE)" || { echo "make deploy needs IMAGE=<repository>@sha256:<digest> (and WORKER_IMAGE=...)"; exit 2; }
	$(DEPLOY_CALLBACKS) $(AS_DEPLOY) $(PLAYBOOK) playbooks/deploy.yml $(DEPLOY_ARGS) $(ARGS)

# MODE=interrupted repairs a deploy stopped half way; MODE=previous undoes a finished one.
MODE ?= interrupted
rollback: emulator-up ## web traffic back: MODE=interrupted (a deploy stopped half way) or MODE=previous (undo a finished deploy, within the RTO)
	$(DEPLOY_CALLBACKS) $(AS_DEPLOY) $(PLAYBOOK) playbooks/rollback.yml -e rollback_mode=$(MODE) $(ARGS)

scan: $(STAMP) ## Trivy, offline: configuration (Dockerfiles, workflows...) and secrets in the repository
	$(BIN)/trivy config --cache-dir $(TRIVY_CACHE) --skip-check-update --quiet --exit-code 1 \
	  --severity MEDIUM,HIGH,CRITICAL $(TRIVY_SKIP) .
	$(BIN)/trivy fs --cache-dir $(TRIVY_CACHE) --scanners secret --quiet --exit-code 1 $(TRIVY_SKIP) .

scan-image: $(STAMP) ## Trivy vulnerability scan of IMAGE, failing on CRITICAL (needs Trivy's online database)
	@test -n "$(IMAGE)" || { echo "make scan-image needs IMAGE=..."; exit 2; }
	$(BIN)/trivy image --cache-dir $(TRIVY_CACHE) --exit-code 1 --severity CRITICAL --no-progress $(IMAGE)

# The release path rehearsed on the running local stack (tools/drills, docs/delivery.md "Drills").
DRILL ?=
drill: $(STAMP) ## local, after make up: the release drills (good deploys, bad builds, rollback, window), N passed, M failed
	@test "$(ENV)" = local || { echo "make drill runs on ENV=local only (it deploys bad releases on purpose)"; exit 2; }
	PYTHONPATH=$(CURDIR)/tools $(BIN)/python -m drills --endpoint $(EMULATOR_URL) $(foreach d,$(subst $(comma), ,$(DRILL)),--drill $(d))

drift: $(STAMP) ## site.yml --check --diff on ENV; fails, with the diff, when anything would change
	@mkdir -p .state
	$(AS_DRIFT) $(PLAYBOOK) playbooks/site.yml --check --diff $(ARGS) | tee .state/drift-$(ENV).log
	@if grep -E '^\S+ +: ok=.* changed=[1-9]' .state/drift-$(ENV).log; then \
	  echo "DRIFT: $(ENV) differs from the repository (diff above)"; exit 1; fi
	@echo "no drift in $(ENV)"

# --- images in the GitHub pipeline (need Docker and ECR; `make images` is the services' build) ---
# The images `make images` leaves in the local engine (services/docker/build-images.sh).
IMAGE_TAG ?= dev
WEB_LOCAL_IMAGE ?= loopin-web:$(IMAGE_TAG)
WORKER_LOCAL_IMAGE ?= loopin-worker:$(IMAGE_TAG)
GIT_SHA := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
FROM_ENV ?= dev
WEB_DIGEST ?=
WORKER_DIGEST ?=
# The registry of the environment's account: set REGISTRY, or AWS_ACCOUNT_ID as the workflows do.
REGISTRY ?= $(if $(AWS_ACCOUNT_ID),$(AWS_ACCOUNT_ID).dkr.ecr.ap-south-1.amazonaws.com)

ecr-login:
	@test -n "$(REGISTRY)" || { echo "REGISTRY (or AWS_ACCOUNT_ID) is required"; exit 2; }
	$(AS_DEPLOY) aws ecr get-login-password --region ap-south-1 | docker login --username AWS --password-stdin $(REGISTRY)

push-images: ecr-login ## push the built images to ENV's ECR repositories; prints (and outputs) their digests
	@mkdir -p .state; : > .state/digests.env; \
	for svc in web worker; do \
	  local_image=$$([ $$svc = web ] && echo $(WEB_LOCAL_IMAGE) || echo $(WORKER_LOCAL_IMAGE)); \
	  target=$(REGISTRY)/loopin/$(ENV)/$$svc; \
	  docker tag $$local_image $$target:$(GIT_SHA) && docker push $$target:$(GIT_SHA) >/dev/null || exit 1; \
	  digest=$$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' $$target:$(GIT_SHA) \
	    | grep "^$$target@" | head -1 | cut -d@ -f2); \
	  test -n "$$digest" || { echo "no digest for $$target"; exit 1; }; \
	  echo "$${svc}_digest=$$digest" | tee -a .state/digests.env; \
	done; if [ -n "$${GITHUB_OUTPUT:-}" ]; then cat .state/digests.env >> "$$GITHUB_OUTPUT"; fi

# The images carry no test suite (runtime only), so what runs "inside the built image" is the
# services' own check: each image started read-only as ECS would, health endpoint, uid, SIGTERM.
check-images: $(STAMP) ## run both built images read-only and check health, user and graceful stop
	$(BIN)/python services/docker/smoke_images.py --tag $(IMAGE_TAG)

scan-images: $(STAMP) ## Trivy vulnerability scan of both built images, failing on CRITICAL (online database)
	@for image in $(WEB_LOCAL_IMAGE) $(WORKER_LOCAL_IMAGE); do \
	  $(MAKE) --no-print-directory scan-image IMAGE=$$image || exit 1; done

promote-images: ecr-login ## copy WEB_DIGEST/WORKER_DIGEST from FROM_ENV's repositories to ENV's, digest unchanged
	@test -n "$(WEB_DIGEST)" -a -n "$(WORKER_DIGEST)" || { echo "WEB_DIGEST and WORKER_DIGEST are required"; exit 2; }
	@for pair in web=$(WEB_DIGEST) worker=$(WORKER_DIGEST); do \
	  svc=$${pair%%=*}; digest=$${pair#*=}; \
	  source=$(REGISTRY)/loopin/$(FROM_ENV)/$$svc@$$digest; target=$(REGISTRY)/loopin/$(ENV)/$$svc; \
	  docker pull $$source >/dev/null && docker tag $$source $$target:$(GIT_SHA) \
	    && docker push $$target:$(GIT_SHA) >/dev/null || exit 1; \
	  pushed=$$(docker inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' $$target:$(GIT_SHA) \
	    | grep "^$$target@" | head -1 | cut -d@ -f2); \
	  if [ "$$pushed" != "$$digest" ]; then echo "REFUSED: $$svc digest changed $$digest -> $$pushed"; exit 1; fi; \
	  echo "promoted $$target@$$digest"; \
	done

# A skip leaves .state/images.skipped, which `make pipeline` reports as SKIP.
images-if-docker:
	@mkdir -p .state; rm -f .state/images.skipped; \
	if ! docker info >/dev/null 2>&1; then \
	  echo "SKIP  images: no Docker engine here (start dockerd to build them)" | tee .state/images.skipped; \
	elif ! $(MAKE) -n images >/dev/null 2>&1; then \
	  echo "SKIP  images: no 'make images' target yet (services/worker/worker.mk)" | tee .state/images.skipped; \
	else $(MAKE) images; fi

pipeline-seed: emulator-up
ifeq ($(ENV),local)
	$(MAKE) up ENV=local
	$(BIN)/python tools/deploy_stack.py seed --endpoint $(EMULATOR_URL) --env local
endif

# The local images have no registry digest; without them the deploy stage uses a stand-in digest
# derived from the commit, which the emulator accepts like any other.
PIPELINE_DIGEST = $(or $(shell git rev-parse HEAD 2>/dev/null | sha256sum | cut -c1-64),$(shell printf 0%.0s {1..64}))
pipeline: $(STAMP) ## the GitHub pipeline's stages in order on this machine: images, test, scan, deploy
ifneq ($(ENV),local)
	@echo "make pipeline runs against the local emulator only (ENV=local); real environments deploy from GitHub"; exit 2
endif
	@set +e; results=(); failed=0; \
	stage() { name=$$1; shift; echo "=== stage $$name: $$*"; start=$$SECONDS; "$$@"; rc=$$?; \
	  took=$$((SECONDS - start)); \
	  if [ $$rc -ne 0 ]; then results+=("FAIL  $$name ($${took}s, exit $$rc)"); failed=1; \
	  elif [ $$name = images -a -f .state/images.skipped ]; then results+=("$$(cat .state/images.skipped)"); \
	  else results+=("PASS  $$name ($${took}s)"); fi; return $$rc; }; \
	stage images $(MAKE) --no-print-directory images-if-docker && \
	stage test $(MAKE) --no-print-directory test && \
	stage scan $(MAKE) --no-print-directory scan && \
	stage provision $(MAKE) --no-print-directory pipeline-seed ENV=local && \
	stage deploy $(MAKE) --no-print-directory deploy ENV=local \
	  IMAGE=$(or $(IMAGE),loopin/local/web@sha256:$(PIPELINE_DIGEST)) \
	  WORKER_IMAGE=$(or $(WORKER_IMAGE),loopin/local/worker@sha256:$(PIPELINE_DIGEST)); \
	echo; echo "=== pipeline ENV=local"; printf '  %s\n' "$${results[@]}"; exit $$failed

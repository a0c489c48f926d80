# The few commands a user and CI run. `make test` needs no cluster; `make demo` and `make e2e` need
# Docker, kind, kubectl and helm (and network, for kind's node image, metrics-server and Redis).
CARGO ?= cargo
IMAGE_TAG ?= dev
KIND_CLUSTER ?= herd
METRICS_SERVER_CHART_VERSION ?= 3.12.2
MUSL_TARGET := x86_64-unknown-linux-musl
# ring compiles C: the musl target needs musl's gcc wrapper (Debian: musl-tools).
export CC_x86_64_unknown_linux_musl ?= musl-gcc
# Debian's Docker 20.10 engine: the classic builder is the one that is always there.
export DOCKER_BUILDKIT := 0
export IMAGE_TAG KIND_CLUSTER METRICS_SERVER_CHART_VERSION

.PHONY: test fmt-check clippy unit docs docs-check image-check crds images demo e2e kind-down

test: fmt-check clippy unit docs-check image-check

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

# Includes the chart checks (tests/tests/chart.rs); the e2e suite reports itself ignored without `make e2e`.
unit:
	$(CARGO) test --workspace --locked

# README's StatelessService and chart-values references are generated from the CRD and the chart.
docs:
	python3 scripts/gen-docs.py

docs-check:
	python3 scripts/gen-docs.py --check

# Builds the images and checks size, non-root user, no shell, read-only root fs and graceful stop.
image-check:
	scripts/check-images.sh

# The CRD is generated from operator/src/crd.rs; the chart carries a copy and the README its reference
# (`make test` fails when either is stale).
crds:
	mkdir -p crds
	$(CARGO) run --locked -q -p herd-operator -- crd > crds/statelessservice.yaml.tmp
	mv crds/statelessservice.yaml.tmp crds/statelessservice.yaml
	cp crds/statelessservice.yaml charts/herd/crds/statelessservice.yaml
	python3 scripts/gen-docs.py

# Static musl binaries built on the host (one build for both), each COPY'd into a FROM scratch image.
images:
	$(CARGO) build --locked --profile image --target $(MUSL_TARGET) -p herd-operator -p herd-shop
	docker build -q -f operator/Dockerfile -t herd-operator:$(IMAGE_TAG) .
	docker build -q -f app/Dockerfile -t herd-shop:$(IMAGE_TAG) .

demo:
	scripts/demo.sh

# One namespace per test, against the kube context kind-$(KIND_CLUSTER) only; one test at a time because the
# tests share the operator and watch its effects.
e2e:
	scripts/kind-up.sh
	HERD_E2E=1 $(CARGO) test --locked -p herd-e2e --test e2e -- --test-threads=1

kind-down:
	kind delete cluster --name $(KIND_CLUSTER)

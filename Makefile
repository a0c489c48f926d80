# The few commands a user and CI run. `make test` needs no cluster; `make demo` and `make e2e` need
# Docker, kind, kubectl and helm.
CARGO ?= cargo

.PHONY: test fmt-check clippy unit crds demo e2e

test: fmt-check clippy unit

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --locked

crds:
	$(CARGO) run --locked -q -p herd-operator -- crd > crds/statelessservice.yaml

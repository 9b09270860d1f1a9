# Quick start: `make demo` runs the main job, `make test` runs every test (as root).
# `make test-stress N=20` runs the fast (non-root) tests N times under CPU load to find races;
# STRESS_ARGS narrows it (e.g. STRESS_ARGS="-j 2 -- -p oxidize-testbed").
.PHONY: setup demo demo-relay test test-stress build fmt clippy images cluster-build cluster-up cluster-down

N ?= 20
STRESS_ARGS ?=

setup:
	bash scripts/setup.sh

# The whole story on a local Kubernetes (cluster, images, helm install, RelayNode, traffic,
# Prometheus, restore); KEEP=1 leaves the cluster up. demo-relay: the relay alone in namespaces.
demo: setup
	bash scripts/demo-k8s.sh

demo-relay: setup
	bash scripts/demo.sh

test: setup
	bash scripts/test.sh

test-stress: setup
	bash scripts/stress.sh -n $(N) $(STRESS_ARGS)

build:
	cargo build --workspace --release

fmt:
	cargo fmt --all

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

# OCI archives of the operator and dataplane images (and the local cluster's pause image),
# FROM scratch, reproducible: build/images/*.tar, digests in build/images/digests.txt.
images:
	bash scripts/images/build.sh

# The local single-node Kubernetes (scripts/cluster/cluster.sh): build from source (cached),
# start it with the images loaded, stop it leaving nothing behind.
cluster-build:
	bash scripts/cluster/build.sh

cluster-up: images cluster-build
	bash scripts/cluster/cluster.sh up build/images/oxidize-operator-*.tar build/images/oxidize-dataplane-*.tar

cluster-down:
	bash scripts/cluster/cluster.sh down

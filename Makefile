# Quick start: `make demo` runs the main job, `make test` runs every test (as root).
.PHONY: setup demo test build fmt clippy

setup:
	bash scripts/setup.sh

demo: setup
	bash scripts/demo.sh

test: setup
	bash scripts/test.sh

build:
	cargo build --workspace --release

fmt:
	cargo fmt --all

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

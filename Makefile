# Every command a person needs. `make help` lists them.
.PHONY: help run test lint fmt crds bench bench-quick bench-backtest campaigns-lint standin operator chaos-build chaos-smoke chaos sandbox fuzz-api images

# The names the manifests use: manifests/base/deployment.yaml and the LoyaltyRegion examples.
IMAGE_REGISTRY ?= ghcr.io/example
IMAGE_TAG ?= 0.1.0
# Where cargo builds (`make images CARGO_TARGET_DIR=...` keeps release builds apart).
CARGO_TARGET_DIR ?= target
export CARGO_TARGET_DIR
# Incremental caches are large and a clean CI build never reuses them.
CARGO_INCREMENTAL ?= 0
export CARGO_INCREMENTAL

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

run: ## Start the loyalty service on the embedded PostgreSQL with demo data (http://127.0.0.1:8080)
	cargo run -p loyalty-service -- serve --demo

test: lint ## The whole test suite: formatting, clippy, every test against real PostgreSQL, an image smoke, then a short schemathesis run
	cargo test --workspace
	images/build.sh $(CARGO_TARGET_DIR)/debug localhost/loyalty-smoke test --remove
	bash service/tests/fuzz/run-schemathesis.sh

fuzz-api: ## schemathesis against the real service for ~15 minutes, 300 examples per operation
	bash service/tests/fuzz/run-schemathesis.sh 300 900

lint: ## Formatting and clippy with warnings denied
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p loyalty-service --no-default-features -- -D warnings

fmt: ## Format the code
	cargo fmt --all

crds: ## Regenerate the CRD YAML in manifests/crds from the Rust types
	cargo run -p loyalty-crds --bin crdgen

bench: ## Benchmark the service against pgbench at 10^5..10^7 ledger entries; writes docs/benchmarks.md (~30 min)
	cargo run --release -p loyalty-loadgen --bin loyalty-bench -- --out docs/benchmarks.md

bench-quick: ## A ~2 minute benchmark on a small dataset, written to /tmp/bench.md
	cargo run --release -p loyalty-loadgen --bin loyalty-bench -- --quick --out /tmp/bench.md

bench-backtest: ## Backtest 10^6 recorded earns (seeded with COPY); prints the time and peak RSS for docs/benchmarks.md
	cargo test --release -p loyalty-campaigns --test cli -- --ignored --nocapture a_million_earns

campaigns-lint: ## Lint the example campaigns as marketing's CI does (loyalty-campaigns, docs/campaigns.md)
	cargo run -p loyalty-campaigns -- lint manifests/examples/marketing

standin: ## Start the Kubernetes API stand-in on :6443 with a kubeconfig in /tmp/loyalty-kubeconfig
	cargo run -p kube-standin -- --port 6443 --kubeconfig /tmp/loyalty-kubeconfig

operator: ## Start the operator against the stand-in and the embedded database of `make run`
	KUBECONFIG=/tmp/loyalty-kubeconfig DATABASE_URL="$$(cat .data/pg-url)" cargo run -p loyalty-operator -- --http-addr 127.0.0.1:9090

chaos-build: ## Build the binaries the chaos suite starts (service with its test-only chaos hooks, operator, suite)
	cargo build -p loyalty-service -p loyalty-operator -p loyalty-chaos --features loyalty-service/chaos-hooks

chaos-smoke: chaos-build ## The two-minute chaos smoke: kill a region, and prove the checker catches a zombie
	cargo test -p loyalty-chaos --test chaos -- --nocapture

chaos: chaos-build ## Every chaos scenario on a fresh local topology; writes docs/chaos.md, docs/chaos.json, docs/chaos.svg (<30 min)
	$(CARGO_TARGET_DIR)/debug/loyalty-chaos report --out docs

sandbox: chaos-build ## Three regions, the stand-in and the operator, left running; prints the kubeconfig and URLs
	$(CARGO_TARGET_DIR)/debug/loyalty-chaos up --keep

images: ## Build and check the service and operator images with buildah (ghcr.io/example/loyalty-service:0.1.0, …-operator:0.1.0)
	cargo build --release -p loyalty-service --no-default-features
	cargo build --release -p loyalty-operator
	images/build.sh $(CARGO_TARGET_DIR)/release $(IMAGE_REGISTRY) $(IMAGE_TAG)

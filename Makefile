# Every command a person needs. `make help` lists them.
.PHONY: help run test lint fmt crds bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

run: ## Start the loyalty service on the embedded PostgreSQL with demo data (http://127.0.0.1:8080)
	cargo run -p loyalty-service -- serve --demo

test: lint ## The whole test suite: formatting, clippy, then every test against real PostgreSQL
	cargo test --workspace

lint: ## Formatting and clippy with warnings denied
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	cargo fmt --all

# tumult — `make help` lists the targets.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/tumult
PKGS  := ./...

# Pinned tool versions.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# How long `make fuzz` runs each fuzz target.
FUZZTIME ?= 30s
# Integration tests get a generous but bounded budget.
ITEST_TIMEOUT ?= 25m
# Cycles of `make soak` (the short version inside `make test` runs 10).
SOAK_CYCLES ?= 100
# Packages with tests behind the integration build tag.
ITEST_PKGS := ./integration/... ./ledger/consul/...

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help (colour only on a terminal without NO_COLOR)
	@on=; off=; if [ -t 1 ] && [ -z "$$NO_COLOR" ]; then on=$$'\033[36m'; off=$$'\033[0m'; fi; \
	 grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*?## "}; {printf "  %s%-16s%s %s\n", on, $$1, off, $$2}'

.PHONY: build
build: ## Build bin/tumult
	CGO_ENABLED=0 $(GO) build -buildvcs=auto -o $(BIN) ./cmd/tumult

.PHONY: deps
deps: ## Install what the integration tests need (Prometheus, Alertmanager, headless Chromium, a cached Consul build)
	@./scripts/deps.sh
	@./scripts/consul.sh >/dev/null

.PHONY: test
test: test-unit test-integration ## Run every test, unit and integration

.PHONY: test-unit
test-unit: ## Run unit tests (with the race detector)
	$(GO) test -race -count=1 $(PKGS)

.PHONY: test-integration
test-integration: deps ## Run integration tests against real Docker, Prometheus, Alertmanager
	$(GO) test -tags integration -count=1 -p 1 -timeout $(ITEST_TIMEOUT) $(ITEST_PKGS)

.PHONY: lint
lint: ## gofmt, go vet, staticcheck, and go.mod tidiness
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags integration $(ITEST_PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)
	@cp go.mod /tmp/tumult-go.mod.bak && cp go.sum /tmp/tumult-go.sum.bak; \
	 $(GO) mod tidy; \
	 if ! git diff --quiet -- go.mod go.sum; then git diff -- go.mod go.sum; echo "go.mod is not tidy: run go mod tidy"; \
	   cp /tmp/tumult-go.mod.bak go.mod; cp /tmp/tumult-go.sum.bak go.sum; exit 1; fi

.PHONY: fuzz
fuzz: ## Fuzz the policy, config and Alertmanager webhook parsers for FUZZTIME each (default 30s)
	$(GO) test ./policies -run '^$$' -fuzz '^FuzzParsePolicies$$' -fuzztime $(FUZZTIME)
	$(GO) test ./config -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME)
	$(GO) test ./alerting -run '^$$' -fuzz '^FuzzParseWebhook$$' -fuzztime $(FUZZTIME)

.PHONY: bench
bench: deps ## Run the benchmarks and print their figures
	$(GO) test -run '^$$' -bench . -benchmem ./policies ./scheduler ./ledger/... ./guardian
	$(GO) test -tags integration -run '^$$' -bench . -benchtime 3x -timeout 30m ./integration/...

.PHONY: soak
soak: ## Crash soak: kill -9 tumult at random moments under every fault kind, SOAK_CYCLES times (default 100)
	set -o pipefail; TUMULT_SOAK_CYCLES=$(SOAK_CYCLES) $(GO) test -tags integration -count=1 -p 1 -v -run '^TestCrashSoak$$' -timeout 60m ./integration/ | grep -E '^(crash soak|--- |ok|FAIL|PASS)|orphaned:|lost:'

.PHONY: demo
demo: build ## Run tumult against a small demo fleet on local Docker (Ctrl-C cleans up)
	@./scripts/demo.sh

.PHONY: clean
clean: ## Remove build output
	rm -rf bin examples/.demo-data

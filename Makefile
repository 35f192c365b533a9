# KudurruStone API Keys. `make run` starts the product locally; `make test`
# runs every test. See README.md.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
FUNCTIONS := list generate revoke whoami authorizer
BUILD_DIR := .build
# Lambda bootstraps: static, stripped, no RPC mode (provided.al2023 speaks the
# Runtime API only). GOARCH follows the template's arm64; tests build for the
# host so the emulator can run them.
LAMBDA_GOOS   ?= linux
LAMBDA_GOARCH ?= arm64
LAMBDA_FLAGS  := -trimpath -tags lambda.norpc -ldflags='-s -w -buildid='

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_%-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: run
run: ## start the whole product locally (embedded store, console at http://127.0.0.1:8080)
	$(GO) run ./functions/local

.PHONY: test
test: deps fmt-check vet ## run every test (installs DynamoDB Local and the browser first)
	infra/scripts/with-dynamodb-local.sh $(GO) test -race -count=1 ./...

.PHONY: deps
deps: ## install the pinned test dependencies into .cache/ (DynamoDB Local)
	infra/scripts/install-dynamodb-local.sh

.PHONY: fmt-check
fmt-check: ## fail if any Go file is not gofmt-formatted
	@out="$$(gofmt -l functions)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## go vet
	$(GO) vet ./...

.PHONY: local-db
local-db: deps ## run DynamoDB Local on 127.0.0.1:8000 until Ctrl-C
	infra/scripts/dynamodb-local.sh 8000

# KudurruStone API Keys. `make run` starts the product locally; `make test`
# runs every test. See README.md.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
FUNCTIONS := list generate update roll revoke auditevents whoami authorizer rotation publisher expiry
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
# Built, then exec'd rather than `go run`: on Ctrl-C the server finishes its
# requests and exits 0, where go run exits 1 and make reports "Error 1".
run: ## start the whole product locally (embedded store, console at http://127.0.0.1:8080)
	@echo "Building the local server (the first build may take a minute) ..."
	@$(GO) build -o $(BUILD_DIR)/local ./functions/local
	@exec $(BUILD_DIR)/local

.PHONY: test
# The emulator tests (functions/internal/rie) run verbosely, so the output
# shows every function being invoked and the performance figures.
test: deps fmt-check vet template-check build-host ## run every test (installs DynamoDB Local and the browser first; builds the bootstraps for the emulator tests)
	infra/scripts/with-dynamodb-local.sh bash -c '$(GO) test -race -count=1 $$($(GO) list ./... | grep -v "/functions/internal/rie$$") && \
	  $(GO) test -race -count=1 -v ./functions/internal/rie/'

.PHONY: deps
deps: ## install the test dependencies: DynamoDB Local and axe-core into .cache/, Chromium from Debian packages
	infra/scripts/install-dynamodb-local.sh
	infra/scripts/install-browser.sh
	infra/scripts/install-axe.sh

.PHONY: fmt-check
fmt-check: ## fail if any Go file is not gofmt-formatted
	@out="$$(gofmt -l functions)"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## go vet
	$(GO) vet ./...

.PHONY: template-check
template-check: ## cfn-lint --include-checks I and the SAM transform of template.yaml into .build/sam/template.json (pip install cfn-lint aws-sam-translator)
	infra/scripts/check-template.sh

# DynamoDB Local of `make local-db` and `make local-table` (sam local's
# containers reach it through infra/local/env.json, port 8000).
DYNAMODB_LOCAL_PORT ?= 8000

.PHONY: local-db
local-db: deps ## run DynamoDB Local on 127.0.0.1:$(DYNAMODB_LOCAL_PORT) (default 8000) until Ctrl-C
	infra/scripts/dynamodb-local.sh $(DYNAMODB_LOCAL_PORT)

# ---- Lambda builds and SAM (functions/*, template.yaml, infra/) ------------

HOST_GOOS   := $(shell $(GO) env GOHOSTOS)
HOST_GOARCH := $(shell $(GO) env GOHOSTARCH)
# A hello-world Go function built exactly like ours: the emulator tests report
# our bootstraps' size and the authorizer's init and invoke durations as
# ratios to it.
HELLO_PKG   := ./functions/internal/rie/testdata/hello
# hello-world plus one bare SDK GetItem: the floor of a warm authorization.
GETITEM_PKG := ./functions/internal/rie/testdata/getitem
SAM_CONFIG  := infra/samconfig.toml
SAM_ENV     := infra/local/env.json

# lambda-build(package dir, output file, GOOS, GOARCH): the one build command
# every bootstrap goes through, so deployed, SAM-built and tested binaries
# differ only in the target platform.
define lambda-build
CGO_ENABLED=0 GOOS=$(3) GOARCH=$(4) $(GO) build $(LAMBDA_FLAGS) -o $(2) $(1)
endef

.PHONY: build
build: $(FUNCTIONS:%=build-lambda-%) ## build every Lambda bootstrap (linux, LAMBDA_GOARCH=arm64) into .build/<fn>/bootstrap

build-lambda-%:
	$(call lambda-build,./functions/$*,$(BUILD_DIR)/$*/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))

.PHONY: build-host
build-host: $(FUNCTIONS:%=build-host-%) ## build the bootstraps (and the hello-world and GetItem baselines) for this machine into .build/host/ (emulator tests)
	$(call lambda-build,$(HELLO_PKG),$(BUILD_DIR)/host/hello/bootstrap,$(HOST_GOOS),$(HOST_GOARCH))
	$(call lambda-build,$(GETITEM_PKG),$(BUILD_DIR)/host/getitem/bootstrap,$(HOST_GOOS),$(HOST_GOARCH))

build-host-%:
	$(call lambda-build,./functions/$*,$(BUILD_DIR)/host/$*/bootstrap,$(HOST_GOOS),$(HOST_GOARCH))

# SAM's makefile builder runs `make build-<LogicalId>` with ARTIFACTS_DIR set
# (without it the bootstrap would land in /bootstrap: stop instead);
# the template's functions map to these targets (a contract test checks it).
require-artifacts-dir = $(if $(ARTIFACTS_DIR),,$(error ARTIFACTS_DIR is not set: `sam build` runs this target and sets it; to build the bootstraps yourself run `make build` (into $(BUILD_DIR)/<fn>/bootstrap)))
.PHONY: build-ListFunction build-GenerateFunction build-RevokeFunction build-UpdateFunction build-RollFunction build-AuditEventsFunction build-WhoamiFunction build-AuthorizerFunction build-RotationFunction build-PublisherFunction build-ExpiryFunction
build-ListFunction:
	$(require-artifacts-dir)
	$(call lambda-build,./functions/list,$(ARTIFACTS_DIR)/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))
build-GenerateFunction:
	$(require-artifacts-dir)
	$(call lambda-build,./functions/generate,$(ARTIFACTS_DIR)/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))
build-RevokeFunction:
	$(require-artifacts-dir)
	$(call lambda-build,./functions/revoke,$(ARTIFACTS_DIR)/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))
build-UpdateFunction:
	$(require-artifacts-dir)
	$(call lambda-build,./functions/update,$(ARTIFACTS_DIR)/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))
build-RollFunction:
	$(require-artifacts-dir)
	$(call lambda-build,./functions/roll,$(ARTIFACTS_DIR)/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))
build-AuditEventsFunction:
	$(require-artifacts-dir)
	$(call lambda-build,./functions/auditevents,$(ARTIFACTS_DIR)/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))
build-WhoamiFunction:
	$(require-artifacts-dir)
	$(call lambda-build,./functions/whoami,$(ARTIFACTS_DIR)/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))
build-AuthorizerFunction:
	$(require-artifacts-dir)
	$(call lambda-build,./functions/authorizer,$(ARTIFACTS_DIR)/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))
build-RotationFunction:
	$(require-artifacts-dir)
	$(call lambda-build,./functions/rotation,$(ARTIFACTS_DIR)/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))
build-PublisherFunction:
	$(require-artifacts-dir)
	$(call lambda-build,./functions/publisher,$(ARTIFACTS_DIR)/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))
build-ExpiryFunction:
	$(require-artifacts-dir)
	$(call lambda-build,./functions/expiry,$(ARTIFACTS_DIR)/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))

.PHONY: sam-validate
sam-validate: ## sam validate --lint the template
	sam validate --lint --config-file $(SAM_CONFIG) --template-file template.yaml

.PHONY: sam-build
sam-build: ## sam build (runs the build-<LogicalId> targets above)
	sam build --config-file $(SAM_CONFIG) --template-file template.yaml

.PHONY: deploy deploy-guided
deploy: sam-build ## deploy non-interactively with the parameters saved in infra/samconfig.toml (first time: make deploy-guided)
	@grep -q '^parameter_overrides' $(SAM_CONFIG) || { echo "no saved parameters in $(SAM_CONFIG): run 'make deploy-guided' once" >&2; exit 1; }
	sam deploy --config-file $(SAM_CONFIG) --no-confirm-changeset --no-fail-on-empty-changeset

deploy-guided: sam-build ## first deploy: sam deploy --guided, answers saved to infra/samconfig.toml
	sam deploy --guided --config-file $(SAM_CONFIG)

.PHONY: local-api
local-api: sam-build $(BUILD_DIR)/sam-env.json ## sam local start-api on :3000 (needs `make local-db` and `make local-table`)
	sam local start-api --config-file $(SAM_CONFIG) --env-vars $(BUILD_DIR)/sam-env.json --port 3000

LOCAL_TABLE := kudurrustone-api-keys-local
# The signing key `make run` creates; POST /dev/token on the local server
# signs admin tokens with it, which `make local-api` then accepts.
LOCAL_JWT_KEY := .data/jwt-signing-key.pem

.PHONY: local-table
# Idempotent; --region because AWS CLI v1 ignores AWS_REGION.
local-table: ## create the keys table in the DynamoDB Local of `make local-db` if missing (aws CLI v1 or v2)
	@export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local; \
	  ddb="aws dynamodb --region us-east-1 --endpoint-url http://127.0.0.1:$(DYNAMODB_LOCAL_PORT)"; \
	  if $$ddb describe-table --table-name $(LOCAL_TABLE) >/dev/null 2>&1; then \
	    echo "table $(LOCAL_TABLE) already exists on http://127.0.0.1:$(DYNAMODB_LOCAL_PORT)"; \
	  else \
	    $$ddb create-table --table-name $(LOCAL_TABLE) --billing-mode PAY_PER_REQUEST \
	      --attribute-definitions AttributeName=PK,AttributeType=S AttributeName=SK,AttributeType=S \
	        AttributeName=type,AttributeType=S AttributeName=expiresAt,AttributeType=S \
	      --key-schema AttributeName=PK,KeyType=HASH AttributeName=SK,KeyType=RANGE \
	      --global-secondary-indexes '[{"IndexName":"ExpiryIndex","KeySchema":[{"AttributeName":"type","KeyType":"HASH"},{"AttributeName":"expiresAt","KeyType":"RANGE"}],"Projection":{"ProjectionType":"INCLUDE","NonKeyAttributes":["firmId","keyId","label","hint","revokedAt","expiryWarnedFor"]}}]' \
	      --stream-specification StreamEnabled=true,StreamViewType=NEW_IMAGE >/dev/null && \
	    echo "table $(LOCAL_TABLE) created on http://127.0.0.1:$(DYNAMODB_LOCAL_PORT)"; \
	  fi

# sam local start-api does not run JWT authorizers: the functions verify the
# admin token themselves under sam local only (functions/internal/samlocal),
# against the public half of the local server's signing key, put into a
# git-ignored copy of infra/local/env.json.
$(BUILD_DIR)/sam-env.json: $(SAM_ENV) $(LOCAL_JWT_KEY)
	@mkdir -p $(BUILD_DIR)
	pub="$$(openssl pkey -in $(LOCAL_JWT_KEY) -pubout -outform DER | openssl base64 -A)"; \
	  sed "s|\"LOCAL_JWT_PUBLIC_KEY\": \"\"|\"LOCAL_JWT_PUBLIC_KEY\": \"$$pub\"|" $(SAM_ENV) >$@

$(LOCAL_JWT_KEY):
	@echo "$(LOCAL_JWT_KEY) is missing: run 'make run' once (it creates the local signing key), then retry" >&2; exit 1

# Usage: make local-invoke FN=ListFunction EVENT=events/list-admin-premier.json
.PHONY: local-invoke
local-invoke: sam-build ## sam local invoke FN with EVENT (needs `make local-db` and `make local-table`)
	sam local invoke --config-file $(SAM_CONFIG) --env-vars $(SAM_ENV) -e $(EVENT) $(FN)

# ---- Performance (functions/internal/perf, infra/scripts/bench.sh) --------

.PHONY: bench build-hello
bench: build build-host build-hello ## print the performance table: each figure beside its baseline, measured in the same run
	infra/scripts/install-dynamodb-local.sh
	infra/scripts/bench.sh

# hello-world for linux/arm64, the size baseline of the deployed bootstraps.
build-hello:
	$(call lambda-build,$(HELLO_PKG),$(BUILD_DIR)/hello/bootstrap,$(LAMBDA_GOOS),$(LAMBDA_GOARCH))

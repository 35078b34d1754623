# ta-guard. `make test` is what CI runs (.ci/run).
GO        ?= go
BIN       ?= bin/webhook
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# One set of flags for `make build` and the Dockerfile: a static, reproducible binary.
GOFLAGS_BUILD := -trimpath
LDFLAGS       := -s -w -X main.version=$(VERSION)

.PHONY: all build test unit lint vet fmt-check bench generate clean

all: lint test build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/webhook

## test: lint, then every test (unit, golden, and those on a real API server).
test: lint unit

unit:
	$(GO) test -count=1 ./...

lint: vet fmt-check

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: the engine benchmarks of docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./pkg/validate/

## generate: deep-copy functions of our opentelemetry.io types.
generate:
	$(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 object paths=./pkg/apis/...

clean:
	rm -rf bin

# ta-guard. `make test` is what CI runs (.ci/run).
GO        ?= go
BIN       ?= bin/ta-guard
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# One set of flags for `make build` and the Dockerfile: a static, reproducible binary.
GOFLAGS_BUILD := -trimpath
LDFLAGS       := -s -w -X github.com/ta-guard/ta-guard/internal/cli.version=$(VERSION)

.PHONY: bench-flood fuzz-short all build test unit lint vet fmt-check tidy-check staticcheck bench bench-webhook bench-check fuzz generate k8s-bins crds clean demo dev manifests docker-build

all: lint test build

build:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ta-guard

## plugin: the same binary named as kubectl looks a plugin up, for `kubectl ta-guard`
## (put bin/ on PATH, or copy it there) and for the krew archives (plugins/krew/).
.PHONY: plugin
plugin:
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_BUILD) -ldflags '$(LDFLAGS)' -o bin/kubectl-ta_guard ./cmd/ta-guard

## test: lint, then every test (unit, golden, and those on a real API server).
## The first run builds kube-apiserver, kube-controller-manager,
## kube-scheduler, kubectl, etcd and kwok from the Go module proxy (about 13
## minutes on 2 cores); later runs reuse them from .cache/.
test: lint k8s-bins unit fuzz-short

unit:
	KUBEBUILDER_ASSETS="$$(hack/k8s-bins.sh --print-dir)" $(GO) test -count=1 ./...

## k8s-bins: build (once) the cluster the tests and the demo run (hack/k8s-bins.sh).
k8s-bins:
	@hack/k8s-bins.sh >/dev/null
	@hack/helm.sh >/dev/null

## lint: vet, gofmt, a tidy go.mod, and staticcheck (pinned by go.mod's tool directive).
lint: vet fmt-check tidy-check staticcheck

tidy-check:
	$(GO) mod tidy -diff

staticcheck:
	$(GO) tool staticcheck ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: the engine benchmarks of docs/benchmarks.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./pkg/validate/

## bench-webhook: load benchmark of the webhook over HTTPS against a no-op baseline.
## The server process runs with GOMEMLIMIT=$(BENCH_GOMEMLIMIT) (empty: Go's default GC).
BENCH_GOMEMLIMIT ?= 280MiB
bench-webhook:
	$(GO) build -o bin/loadbench ./test/loadbench
	GOMEMLIMIT=$(BENCH_GOMEMLIMIT) bin/loadbench -rate 200 -duration 20s -rounds 2 -capacity 5s

## bench-check: `ta-guard check` as a whole process on the generated world
## (written as manifests) at 0.1x, 1x and 3x, against gator v3.23.1 with a
## two-rule Rego template on the same files, same run (docs/benchmarks.md).
## The first run builds gator from the Go module proxy into .cache/.
BENCH_CHECK_SCALES ?= 0.1,1,3
bench-check: build
	$(GO) run ./test/checkbench -ta-guard bin/ta-guard -gator "$$(hack/gator.sh)" -scales $(BENCH_CHECK_SCALES) -runs 3

## bench-flood: issue 26's load test: a 60 s flood of hostile requests at the
## webhook port while a denied collector goes through the real API server
## once a second (docs/benchmarks.md). It fails if that collector is ever
## admitted or the webhook's peak memory reaches the Deployment's limit.
FLOOD_DURATION ?= 60s
bench-flood: build k8s-bins
	$(GO) run ./test/floodbench -ta-guard $(BIN) -duration $(FLOOD_DURATION)

## fuzz: each fuzz target for $(FUZZTIME), one after another (docs/fuzzing.md);
## their seeds in testdata/fuzz/ already run in `make test`, and
## fuzz-short (part of `make test`) fuzzes each for $(FUZZTIME_SHORT)
## executions: a count, not a duration, since Go 1.26's fuzz coordinator can
## fail a target with "context deadline exceeded" and no crasher when a
## duration ends on a loaded machine (golang/go#75804, fixed in Go 1.27).
FUZZTIME ?= 60s
FUZZTIME_SHORT ?= 10000x
FUZZ_TARGETS := FuzzDecode:./internal/model FuzzCompactConfig:./internal/model FuzzParse:./internal/policy FuzzRead:./internal/manifest FuzzListCut:./internal/manifest \
	FuzzAdmissionObjects:./internal/webhook FuzzAdmissionBody:./internal/webhook
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  echo "== $${t%%:*} ($${t#*:}, $(FUZZTIME))"; \
	  $(GO) test -run '^$$' -fuzz "^$${t%%:*}\$$" -fuzztime $(FUZZTIME) "$${t#*:}" || exit 1; \
	done

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT)

## crds: regenerate the Prometheus Operator CRDs of the tests from its Go types.
crds:
	hack/gen-crds.sh

## generate: deep-copy functions of our opentelemetry.io types.
generate:
	$(GO) run sigs.k8s.io/controller-tools/cmd/controller-gen@v0.23.0 object paths=./internal/apis/...

## demo: walk the troubleshooting guide against a local etcd + kube-apiserver with
## ta-guard registered, showing what kubectl prints; exits 0 if every step did.
## The first run builds kube-apiserver, etcd and kubectl (minutes); then ~1 minute.
demo: build
	@GO="$(GO)" hack/demo.sh

## dev: the same sandbox, kept up until Ctrl-C, for your own manifests.
dev: build
	@GO="$(GO)" hack/demo.sh --keep

## manifests: render each overlay of config/webhook (kubectl kustomize, with the
## kubectl of hack/k8s-bins.sh) into bin/manifests/<overlay>.yaml.
manifests: k8s-bins
	@mkdir -p bin/manifests
	@for o in config/webhook/overlays/*/; do \
	  o=$${o%/}; out=bin/manifests/$${o##*/}.yaml; \
	  "$$(hack/k8s-bins.sh --print-dir)/kubectl" kustomize "$$o" >"$$out" || exit 1; \
	  echo "$$out"; \
	done

## docker-build: the webhook image (Dockerfile), built as `make build` builds the
## binary, tagged $(IMG). Needs a Docker engine with BuildKit.
IMG ?= ghcr.io/ta-guard/ta-guard:$(VERSION)
docker-build:
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

clean:
	rm -rf bin

# Portico. `make up` runs a local federation; `make test` runs every test tier this
# machine can run. Both build what they need (cached under _output/).

SHELL := /usr/bin/env bash -o pipefail
GO ?= go
BINARIES := portico-hub member-agent kubectl-portico lb-agent
# Tests run with a bounded parallelism: the machine this project targets has 2 cores.
GOTEST := $(GO) test -p 2

.PHONY: all
all: build

## build: build the binaries into bin/
.PHONY: build
build:
	@mkdir -p bin
	$(GO) build -o bin/ $(addprefix ./cmd/,$(BINARIES))

## tools: build kube-apiserver, kube-controller-manager, kubectl, etcd and kubefed's controller-manager from source (once; cached in _output/)
.PHONY: tools
tools:
	hack/build-kube.sh
	hack/build-kubefed.sh

## generate: regenerate deepcopy, conversion, defaults, OpenAPI, clients and Istio schemas
.PHONY: generate
generate:
	hack/update-codegen.sh

## verify: fail on stale generated code, gofmt or go vet findings
.PHONY: verify
verify: verify-gofmt verify-vet verify-codegen

.PHONY: verify-gofmt
verify-gofmt:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [[ -n "$$out" ]]; then echo "gofmt needed (run 'gofmt -w'):"; echo "$$out"; exit 1; fi

.PHONY: verify-vet
verify-vet:
	$(GO) vet ./...
	$(GO) vet -tags registry,integration ./...
	$(GO) vet -tags peers,vm ./test/peers/... ./test/vm/...
	$(GO) vet -tags dns ./test/peers/...
	$(GO) vet -tags e2e ./test/e2e/...
	$(GO) vet -tags chaos ./test/chaos/...

.PHONY: verify-codegen
verify-codegen:
	hack/verify-codegen.sh

## test: every tier this machine can run: verify, unit, registry, integration, chaos, peers, dns, vm, e2e
.PHONY: test
test: verify test-unit test-registry test-integration test-chaos test-peers test-dns test-vm e2e

## test-unit: pure logic with fakes
.PHONY: test-unit
test-unit:
	$(GOTEST) ./...

## test-registry: hub storage on a real embedded etcd
.PHONY: test-registry
test-registry:
	$(GOTEST) -tags registry ./registry/...

## test-integration: a real hub cluster (kube-apiserver, kube-controller-manager and etcd built from source) and portico-hub
.PHONY: test-integration
test-integration: tools
	$(GOTEST) -tags integration -timeout 30m ./test/...

## test-chaos: 3 etcd members, 2 portico-hub replicas and 3 member clusters under client churn while faults are injected at random (SEED=<seed> replays a run's sequence; CHAOS_DURATION, default 3m)
SEED ?= 0
CHAOS_DURATION ?= 3m
.PHONY: test-chaos
test-chaos: tools
	$(GO) test -tags chaos -count=1 -timeout 20m -v -run TestChaos ./test/chaos/ -args -chaos.seed=$(SEED) -chaos.duration=$(CHAOS_DURATION)

## test-peers: lb-agent against BIRD 2 in network namespaces with a real hub (root; installs bird2 via hack/install-bird.sh)
.PHONY: test-peers
test-peers: tools
	$(GO) test -tags peers -count=1 -timeout 20m ./test/peers/...

## test-dns: NameService publishing against BIND 9 (TSIG, RFC 2136) with a real hub (installs bind9 via hack/install-bind.sh)
.PHONY: test-dns
test-dns: tools
	hack/install-bind.sh
	$(GO) test -tags dns -count=1 -timeout 15m ./test/peers/

## test-vm: the IPVS dataplane in a qemu VM booting Debian's cloud kernel (hack/vm/build.sh caches it in _output/vm)
.PHONY: test-vm
test-vm:
	CGO_ENABLED=0 $(GO) test -tags vm -count=1 -exec "$(CURDIR)/hack/vm/exec.sh" -timeout 30m ./test/vm/...

## e2e: the local federation of `make up` (same code) in a temporary directory, the quickstart access point checked end to end (root; installs bird2, bind9, qemu)
.PHONY: e2e
e2e: tools
	$(GO) test -tags e2e -count=1 -timeout 30m ./test/e2e/...

## fuzz: run each Go fuzz target for FUZZTIME (default 60s): validation, overrides, rendering, the lb-agent model (the unit tier runs their seed corpora)
FUZZTIME ?= 60s
# Each new input that widens coverage is minimized, for up to a minute by default:
# capped so that a short run spends its time fuzzing.
FUZZMINIMIZETIME ?= 5s
FUZZ_TARGETS := \
	./apis/traffic/validation:FuzzValidateFederatedAccessPoint \
	./apis/traffic/validation:FuzzParseAddressRange \
	./apis/traffic/overrides:FuzzApply \
	./apis/traffic/overrides:FuzzForCluster \
	./federation/accesspoint:FuzzRender \
	./lb-agent/model:FuzzFor
.PHONY: fuzz
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $$pkg || exit 1; \
	done

## bench-vm: the IPVS benchmark alone in the VM (same as make bench BENCH=ipvs, without the table)
.PHONY: bench-vm
bench-vm:
	CGO_ENABLED=0 $(GO) test -tags vm -exec "$(CURDIR)/hack/vm/exec.sh" -run '^$$' -bench BenchmarkIPVS -benchtime 1x -timeout 90m -v ./test/vm/

## bench: every benchmark (hub, member-agent, federation, ipvs), then one table of figure, goal, measured, ratio (also _output/bench/results.json); BENCH=<name> runs one
BENCH ?=
.PHONY: bench
bench: tools
	hack/bench.sh $(BENCH)

## up: run a local federation with DNS, certificates and the L4 tier (root); prints how to use it (. _output/local/env)
.PHONY: up
up: tools
	$(GO) run ./hack/local-up up

## down: stop everything `make up` started and remove its network namespaces
.PHONY: down
down:
	$(GO) run ./hack/local-up down

## clean: remove binaries and the local federation's data (not the cached kube build)
.PHONY: clean
clean: down
	rm -rf bin _output/local _output/bin

.PHONY: help
help:
	@grep -E '^## ' Makefile | sed 's/^## /  /'

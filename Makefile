# ucv — build, run, test. See README.md.
SHELL      := /bin/bash
GO         ?= go
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN        := bin/ucv
STATICCHECK_VERSION := v0.8.2
GOBIN      := $(shell $(GO) env GOPATH)/bin
FUZZTIME   ?= 30s
BENCHCOUNT ?= 5

.PHONY: build run test unit lint fmt bench bench-compare bench-ceiling fuzz soak clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/ucv

# Runs the product: an all-in-one edge node for local development
# (`ucv dev`: data in ./ucv-data, http://127.0.0.1:8080, no write key).
run: build
	./$(BIN) dev

# Everything that proves behaviour: lint, then every test with the race
# detector (property tests, fuzz seeds, golden files, end-to-end CLI).
test: lint unit

unit:
	$(GO) test -race -count=1 -timeout 14m ./...

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	@$(GO) mod tidy -diff >/dev/null || { echo "go.mod/go.sum are not tidy (run go mod tidy):"; $(GO) mod tidy -diff; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags benchceiling ./edge/store
	GOOS=darwin $(GO) vet ./...
	@test -x $(GOBIN)/staticcheck || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	$(GOBIN)/staticcheck ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

# Micro-benchmarks (medians over BENCHCOUNT runs) and the scenario
# benchmarks; results are written to bench/results/ and summarized by hand
# in bench/README.md.
bench: build
	@mkdir -p bench/results
	@command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null && command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools wrk; }
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./crdt/... ./profile/... ./hub/... | tee bench/results/micro.txt
	$(GO) test -run '^$$' -bench IngestCommit -benchtime 2s ./edge/store | tee bench/results/commit.txt
	$(GO) test -run '^$$' -bench IngestCPU -benchtime 100000x ./edge/store | tee -a bench/results/commit.txt
	$(GO) test -run '^$$' -bench 'ApplyInMemory|AppendBatches' -benchtime 100000x ./edge/store | tee bench/results/apply.txt
	$(GO) test -run '^$$' -bench ApplyBySize -benchtime 30x -benchmem ./edge/store | tee -a bench/results/apply.txt
	$(GO) test -run '^$$' -bench IngestOnlineRetail -benchtime 1x -timeout 20m ./edge/store | tee -a bench/results/apply.txt
	$(GO) test -run '^$$' -bench CheckpointWrite -benchtime 3x ./edge/store | tee -a bench/results/apply.txt
	./$(BIN) bench compare --duration 10s --rounds 3 | tee bench/results/compare.txt
	./$(BIN) bench identity | tee bench/results/identity.txt
	./$(BIN) bench lookup --profiles 1000000 --duration 10s | tee bench/results/lookup.txt
	./$(BIN) bench lookup --profiles 1000000 --duration 10s --pin | tee bench/results/lookup-pin.txt
	./$(BIN) bench ingest --duration 10s | tee bench/results/ingest.txt
	$(GO) test -run '^$$' -bench 'Convergence|CatchUp' -benchtime 1x -timeout 60m ./edge/gossip | tee bench/results/gossip.txt
	$(GO) test -run '^$$' -bench 'HubSyncPush' -benchtime 120000x -count 3 ./cmd/ucv | tee bench/results/hub.txt
	$(GO) test -run '^$$' -bench 'HubEdgeToEdge' -benchtime 300x -count 3 ./cmd/ucv | tee -a bench/results/hub.txt
	$(GO) test -run '^$$' -bench 'HubCatchUp' -benchtime 1x -timeout 60m ./cmd/ucv | tee bench/results/catchup.txt

# Issue 16's table alone: the edge under wrk against redis-server under
# redis-benchmark, side by side (installs wrk and redis from Debian if missing).
bench-compare: build
	@mkdir -p bench/results
	./$(BIN) bench compare --duration 10s --rounds 3 | tee bench/results/compare.txt

# The same table with an edge built to drop the ingest benchmarks' events
# once logged and acknowledged (-tags benchceiling, edge/store/ceiling_on.go):
# what HTTP, parsing and the durable log allow without the applier.
bench-ceiling: build
	@mkdir -p bench/results
	$(GO) build -tags benchceiling -o bin/ucv-ceiling ./cmd/ucv
	./$(BIN) bench compare --bin bin/ucv-ceiling --duration 8s --rounds 1 | tee bench/results/ceiling.txt

# Every fuzz target, each for FUZZTIME (default 30s). Without
# -fuzzminimizetime 0 the Go fuzzer stops executing ("0/sec") a few
# seconds in while it minimizes a new interesting input (golang/go#51484;
# on this machine FuzzDecodeValue ran 4k inputs in 30 s minimizing, 318k
# with the flag). A failing input is then reported as found, unminimized.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 0 $$pkg; \
	  done; \
	done

# Long property runs (many more random cases than `make test`) and the
# kill -9 durability test with 1,000 kills.
# The property packages only: a test binary without rapid refuses -rapid.checks
# (profile/clv has no property tests).
SOAK_PKGS = ./crdt/... ./profile ./profile/catalog ./profile/expr ./profile/recommend ./edge/store/...

soak: build
	$(GO) test -race -count=1 -timeout 60m -run 'Laws|Merge|Convergence|Property|Model|ExactlyOnce' $(SOAK_PKGS) -rapid.checks=20000
	UCV_KILLS=1000 $(GO) test -count=1 -timeout 60m -run Kill9 -v ./cmd/ucv/

clean:
	rm -rf bin bench/results

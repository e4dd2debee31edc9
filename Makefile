# crosstalk: each target a line or two. `make test` is what CI runs.
GO ?= go
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: build test race test-images demo soak bench lint fuzz images clean

build:
	$(GO) build -o bin/crosstalk ./cmd/crosstalk

# -p 1: one package at a time, so that no test binary compiles beside the
# load tests, whose latency and error thresholds are measured on two cores.
test: lint test-images build race
	mkdir -p out/test-artifacts
	$(GO) test -p 1 -count=1 -timeout 25m -artifacts -outputdir $(CURDIR)/out/test-artifacts ./...
	bin/crosstalk selftest

# The race detector on the engine, the oracles, the portal and the targets
# that run in-process (their load tests are skipped with -short).
race:
	$(GO) test -race -short -count=1 ./harness/... ./workers/... ./targets/portal/... ./targets/embedded/... ./targets/url/... ./internal/docker/...

# The container tests need the images; without a Docker engine they skip,
# except in CI (CI set), where they fail.
test-images:
	@if docker info >/dev/null 2>&1; then ./images/build.sh; \
	elif [ -n "$$CI" ]; then echo "CI is set and no Docker engine answers: the container tests cannot run" >&2; exit 1; \
	else echo "no Docker engine: the container tests will skip (in CI they fail)"; fi

# The CAF incident on the embedded stack: leaks (exit 1), then the same
# schedule on a correct portal passes (exit 0).
demo: build
	bin/crosstalk run scenarios/caf-2021.yaml --out out/caf-2021 --duration 15s; test $$? -eq 1
	bin/crosstalk run scenarios/caf-2021.yaml --out out/caf-2021-fixed --duration 15s --defects none

# A soak on the embedded stack: the resident set after the warm-up and at
# the end is the "memory" line of the summary.
DURATION ?= 20m
soak: build
	bin/crosstalk run scenarios/soak.yaml --duration $(DURATION) --out out/soak --quiet

bench:
	$(GO) test -run '^$$' -bench 'Scan$$' -benchmem ./harness/canary/
	$(GO) test -run '^$$' -bench 'ShardMemory' -benchtime 1x ./harness/ | grep Benchmark
	$(GO) test -run '^$$' -bench 'ScanGzipPage' -benchmem ./harness/
	@if docker info >/dev/null 2>&1; then $(GO) test -run '^$$' -bench StackStart -benchtime 1x ./targets/containers/ | grep Benchmark; \
	else echo "no Docker engine: BenchmarkStackStart (the container stack with 100,000 users) skipped"; fi
	$(GO) test -run '^$$' -bench Pipeline -benchtime 1x ./harness/ | tee /dev/stderr | awk '/^BenchmarkPipeline/ { for (i = 1; i < NF; i++) m[$$(i+1)] = $$i; printf "raw vegeta %.0f req/s, crosstalk (attribution + oracle on every byte) %.0f req/s, ratio %.2fx\n", m["vegeta-req/s"], m["crosstalk-req/s"], m["ratio"] }'

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzScan -fuzztime 30s ./harness/canary/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./harness/content/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./harness/population/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./scenarios/

# Every image of the containers target, built locally with no registry:
# mmdebstrap base with Redis, PostgreSQL and nginx, and crosstalk FROM scratch.
images:
	./images/build.sh

clean:
	rm -rf bin out crosstalk-out images/crosstalk/bin

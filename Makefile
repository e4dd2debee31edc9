# crosstalk: each target a line or two. `make test` is what CI runs.
GO ?= go
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: build test demo bench lint fuzz images clean

build:
	$(GO) build -o bin/crosstalk ./cmd/crosstalk

test: lint
	$(GO) test -count=1 -timeout 20m ./...

# The CAF incident on the embedded stack: leaks (exit 1), then the same
# schedule on a correct portal passes (exit 0).
demo: build
	bin/crosstalk run scenarios/caf-2021.yaml --out out/caf-2021 --duration 15s; test $$? -eq 1
	bin/crosstalk run scenarios/caf-2021.yaml --out out/caf-2021-fixed --duration 15s --defects none

bench:
	$(GO) test -run '^$$' -bench 'Scan$$' -benchmem ./harness/oracle/
	$(GO) test -run '^$$' -bench Pipeline -benchtime 1x ./harness/ | tee /dev/stderr | awk '/^BenchmarkPipeline/ { for (i = 1; i < NF; i++) m[$$(i+1)] = $$i; printf "raw vegeta %.0f req/s, crosstalk (attribution + oracle on every byte) %.0f req/s, ratio %.2fx\n", m["vegeta-req/s"], m["crosstalk-req/s"], m["ratio"] }'

lint:
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) vet ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzScan -fuzztime 30s ./harness/oracle/
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime 30s ./harness/population/
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./scenarios/

images:
	@echo "no images yet: the embedded target needs none (the containers target is issue 3)"

clean:
	rm -rf bin out crosstalk-out

# livechat: the two set-up commands on a fresh machine are `make run` and `make test`.
GO        ?= go
SPEC      := asyncapi/livechat.yaml
export ASYNCAPI_METRICS_CONFIG_PATH := $(CURDIR)/asyncapi/.asyncapi-analytics
export SUPPRESS_NO_CONFIG_WARNING := 1

.PHONY: run test build generate check-generated spec-lint vet bench bench-smoke bench-go demo fuzz

## run: serve on 127.0.0.1:8080 with SQLite in ./data and the in-process bus
run:
	$(GO) run ./cmd/livechat serve

## test: the whole test suite with the race detector (Postgres/Redis tests run when their env vars are set).
# gotestsum (pinned in tools.go) prints a line per package, then every skipped test with its reason and the
# full output of every failure; its exit code is go test's.
test:
	$(GO) run gotest.tools/gotestsum --format pkgname --raw-command -- $(GO) test -json -race -count=1 ./...

## fuzz: every fuzz target for its CI share (FUZZTIME=10m: each that long; FUZZ=FuzzFrame: only matching targets)
fuzz:
	@bash .ci/fuzz

## build: the livechat binary in ./bin
build:
	$(GO) build -o bin/livechat ./cmd/livechat

## generate: regenerate gen/ from the spec (deterministic)
generate:
	$(GO) generate ./gen/...

## check-generated: fail when gen/ is not exactly what `make generate` produces (untracked files count)
check-generated: generate
	@if [ -n "$$(git status --porcelain --untracked-files=all -- gen)" ]; then \
		git status --short --untracked-files=all -- gen; git --no-pager diff --stat -- gen; \
		echo "check-generated: gen/ differs from a fresh generation of $(SPEC); run 'make generate' and commit gen/" >&2; \
		exit 1; \
	fi
	@echo "check-generated: gen/ is up to date"

## spec-lint: validate the spec with the official AsyncAPI parser (@asyncapi/cli, pinned in asyncapi/package.json)
spec-lint: asyncapi/node_modules/.package-lock.json
	cd asyncapi && npx --no-install asyncapi validate livechat.yaml --fail-severity error

asyncapi/node_modules/.package-lock.json: asyncapi/package.json asyncapi/package-lock.json
	cd asyncapi && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

## demo: the fake LINE, a server on 127.0.0.1:8081 (data in ./data/demo) and 3 simulated customers; you play the operator
demo: build
	@bash cmd/livechat/demo.sh

vet:
	$(GO) vet ./...

## bench: `livechat bench`, the quick profile (about 3 minutes): the floor and livechat on the embedded defaults,
## servers pinned to CPU 0 and the load to CPU 1; writes docs/benchmarks.md (only between its markers).
# BENCH_DATABASE_URL (postgres://...) adds livechat on Postgres, with BENCH_REDIS_URL (redis://...) two instances
# on Redis; BENCH_PROFILE=full is the long run; BENCH_FLAGS passes anything else (e.g. --keep).
BENCH_PROFILE ?= quick
bench: build
	./bin/livechat bench --profile $(BENCH_PROFILE) --pin --markdown docs/benchmarks.md \
		$(if $(BENCH_DATABASE_URL),--database-url '$(BENCH_DATABASE_URL)') $(if $(BENCH_REDIS_URL),--redis-url '$(BENCH_REDIS_URL)') $(BENCH_FLAGS)

## bench-smoke: a tiny run (about 10 s of load) that fails on any lost, duplicated or out-of-order delivery; never on a time
bench-smoke: build
	./bin/livechat bench --profile smoke --check

## bench-go: the Go benchmarks (the send path on SQLite)
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

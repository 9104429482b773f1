# Build, test, benchmark and fuzz the remailer network. See README.md.

GO        ?= go
BIN       ?= bin
FUZZTIME  ?= 10s
BENCHTIME ?= 2s
PKGS      := ./...

.PHONY: all build test vet fmt-check bench fuzz demo e2e clean docs deps deps-chromium screenshot

all: build

build:
	$(GO) build -o $(BIN)/ ./cmd/...

# The test command CI runs (.ci/run): formatting, vet, then every test.
test: fmt-check vet
	$(GO) test -count=1 -timeout 30m $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Benchmarks behind docs/PERFORMANCE.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

# A short, bounded run of every fuzz target (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; \
	    $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# A local network: four remailers (one a middleman) and an SMTP hub standing
# for the outside world, all on 127.0.0.1 in ./demo; Ctrl-C stops it.
demo: build
	@$(BIN)/mixd demo --dir demo

# The end-to-end tests alone: real mixd processes, the demo run
# non-interactively (every message must arrive), crash safety. `make test`
# runs them too.
e2e:
	$(GO) test -count=1 -v -run . ./internal/e2e

clean:
	rm -rf $(BIN)

# Debian packages driven for real: the finger client (the pinger test in
# `make test`; .ci/run calls this) and Chromium (`make screenshot` only).
# Installed with apt-get when missing; needs root, as CI has.
deps:
	@command -v finger >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends finger; }

deps-chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

# The pinger's HTML page in headless Chromium: checks what it rendered and
# saves docs/pinger-stats.png (synthetic data, fixed seed).
screenshot: deps-chromium
	$(GO) test -tags screenshot -run '^TestScreenshot$$' -count=1 -v ./pinger

# Regenerate the option table of docs/CONFIG.md from the code.
docs:
	$(GO) run ./cmd/mixd gendoc docs/CONFIG.md

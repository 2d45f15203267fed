# cairn: `make test` is what CI runs; `make bench` compares with restic and borg.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
DIR     ?= .

.PHONY: all build install snap test fmt-check vet unit fuzz bench clean man

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/cairn ./cmd/cairn

install:
	$(GO) install -ldflags "$(LDFLAGS)" ./cmd/cairn

# Take a snapshot of DIR (default: this checkout) into the default repository.
snap: build
	./bin/cairn snap $(DIR)

test: fmt-check vet unit fuzz

# Man pages (cairn.1, cairn-snap.1, ...) generated from the commands' help
# by cobra/doc, from a test so that the binary does not link the generator.
MANDIR ?= docs/man
man:
	$(GO) test -count=1 -run '^TestManPages$$' ./cmd/cairn -args -man $(abspath $(MANDIR))

fmt-check:
	@out="$$(gofmt -l $$(git ls-files "*.go"))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./...

# Each fuzz target runs briefly: enough to catch a regression on the
# parsers of untrusted bytes, bounded for CI. The budget is a count of
# executions, not a duration: a -fuzztime duration that runs out while the
# engine minimises a new input fails the run with "context deadline
# exceeded" (seen on a loaded machine); a count has no deadline.
FUZZTIME ?= 100000x
FUZZTIME_SLOW ?= 1000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./blobstore
	$(GO) test -run '^$$' -fuzz '^FuzzParseIndex$$' -fuzztime $(FUZZTIME) ./blobstore
	$(GO) test -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZTIME) ./chunker
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeChunkList$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzCheckPath$$' -fuzztime $(FUZZTIME) ./restore
	$(GO) test -run '^$$' -fuzz '^FuzzCleanName$$' -fuzztime $(FUZZTIME) ./importer
	$(GO) test -run '^$$' -fuzz '^FuzzExtractTar$$' -fuzztime $(FUZZTIME_SLOW) ./importer

bench: build
	$(GO) run ./bench $(BENCHFLAGS)

clean:
	rm -rf bin

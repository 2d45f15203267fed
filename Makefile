# cairn: `make test` is what CI runs; `make bench` compares with restic and borg.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# -s -w: no symbol table or DWARF (panics still name functions). A cold
# one-file restore reads the binary from disk: 18 MiB instead of 22.
LDFLAGS := -s -w -X main.version=$(VERSION)
DIR     ?= .

.PHONY: all build install snap test fmt-check vet unit fuzz bench clean man s3-servers seaweedfs

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/cairn ./cmd/cairn

install:
	$(GO) install -ldflags "$(LDFLAGS)" ./cmd/cairn

# Take a snapshot of DIR (default: this checkout) into the default repository.
snap: build
	./bin/cairn snap $(DIR)

test: fmt-check vet s3-servers unit fuzz

# Real S3 servers for the tests (internal/s3test starts them on 127.0.0.1),
# built once into $(S3CACHE)/<name>-<version>/, outside the checkout so that
# a fresh clone reuses them (internal/s3test.CacheDir looks in the same
# place); a version bump builds anew. versitygw: ~70 s cold. Tests that find no server skip,
# except under CI=true, where they fail.
S3CACHE    ?= $(or $(CAIRN_TEST_SERVERS),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/cairn/test-servers)
export CAIRN_TEST_SERVERS := $(S3CACHE)
VERSITYGW  := v1.8.0
SEAWEEDFS  := v0.0.0-20261109003541-7506e5f91cd6
s3-servers: $(S3CACHE)/versitygw-$(VERSITYGW)/versitygw
$(S3CACHE)/versitygw-$(VERSITYGW)/versitygw:
	GOBIN=$(dir $@) $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW)

# SeaweedFS for the distributed test (TestSeaweedFS*): `go install` refuses
# the module (replace lines), so build ./weed in a copy of its module
# directory: ~6 min cold, ~2 min with a warm build cache. Not part of
# `make test` unless CAIRN_SEAWEEDFS=1 (see .ci/run).
seaweedfs: $(S3CACHE)/seaweedfs-$(SEAWEEDFS)/weed
$(S3CACHE)/seaweedfs-$(SEAWEEDFS)/weed:
	@set -e; src=$$(cd /tmp && $(GO) mod download -json github.com/seaweedfs/seaweedfs@$(SEAWEEDFS) | sed -n 's/.*"Dir": "\(.*\)".*/\1/p'); \
	tmp=$$(mktemp -d); cp -r "$$src" "$$tmp/src"; chmod -R u+w "$$tmp/src"; mkdir -p $(dir $@); \
	(cd "$$tmp/src" && $(GO) build -o $@ ./weed); rm -rf "$$tmp"

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
	$(GO) test -race -count=1 -timeout 25m ./...

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
	$(GO) test -run '^$$' -fuzz '^FuzzParseIndexSealed$$' -fuzztime $(FUZZTIME) ./blobstore
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSealed$$' -fuzztime $(FUZZTIME) ./blobstore
	$(GO) test -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZTIME) ./chunker
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeChunkList$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeRecord$$' -fuzztime $(FUZZTIME) ./catalog
	$(GO) test -run '^$$' -fuzz '^FuzzCheckPath$$' -fuzztime $(FUZZTIME) ./restore
	$(GO) test -run '^$$' -fuzz '^FuzzCleanName$$' -fuzztime $(FUZZTIME) ./importer
	$(GO) test -run '^$$' -fuzz '^FuzzExtractTar$$' -fuzztime $(FUZZTIME_SLOW) ./importer

# -remote=auto adds the remote step (cairn and restic on versitygw, written
# to docs/benchmarks-remote.md) when `make s3-servers` built the server.
bench: build
	$(GO) run ./bench -remote=auto $(BENCHFLAGS)

clean:
	rm -rf bin

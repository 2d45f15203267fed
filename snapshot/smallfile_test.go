package snapshot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zeebo/blake3"
	"golang.org/x/sys/unix"

	"github.com/cairn-dev/cairn/blobstore"
	"github.com/cairn-dev/cairn/chunker"
	"github.com/cairn-dev/cairn/internal/beneath"
)

// The small-file path (one read per file) records exactly what the
// ordinary one does: the same contents, JSON verdicts and entry counts,
// capture kinds and chunkings, for files on both sides of smallMax, empty
// ones, and a database (which it leaves to the ordinary path).
func TestSmallFilesAsOrdinaryOnes(t *testing.T) {
	src := t.TempDir()
	files := map[string]string{
		"empty":         "",
		"a.json":        `{"jobs":[1,2,3]}`,
		"empty.json":    "",
		"torn.json":     `{"jobs":[1,2`,
		"list.jsonl":    "{\"a\":1}\n{\"b\":2}\n",
		"bad.ndjson":    "{\"a\":1}\n{oops\n",
		"notes.txt":     "notes\n",
		"at-max.bin":    strings.Repeat("m", int(smallMax)),
		"over-max.json": `{"pad":"` + strings.Repeat("p", int(smallMax)) + `"}`,
		"dir/deep.json": `[]`,
		// Several chunks, cut in memory on the small-file path.
		"cut.bin": string(pseudoRandom(200 << 10)),
	}
	for rel, data := range files {
		writeFile(t, filepath.Join(src, filepath.FromSlash(rel)), data)
	}
	createCounterDB(t, filepath.Join(src, "small.db"))
	backdate(t, src, time.Hour)
	const q = `SELECT v.path, v.size, v.capture, coalesce(v.json_valid, -1), coalesce(v.json_entries, -1), coalesce(hex(c.hash), ''),
		coalesce(c.chunking, '') FROM version v LEFT JOIN content c ON c.id = v.content_id WHERE v.type = 'file' ORDER BY v.path`
	small := newRepo(t, t.TempDir())
	small.snap(t, src, Options{})
	got := small.query(t, q)
	const chunks = `SELECT hex(hash), size FROM chunk ORDER BY hash`
	gotChunks := small.query(t, chunks)

	defer func(old int64) { smallMax = old }(smallMax)
	smallMax = -1
	ordinary := newRepo(t, t.TempDir())
	ordinary.snap(t, src, Options{})
	want := ordinary.query(t, q)
	if wantChunks := ordinary.query(t, chunks); !slices.Equal(gotChunks, wantChunks) {
		t.Errorf("small-file path stored chunks:\n%s\nordinary path:\n%s", strings.Join(gotChunks, "\n"), strings.Join(wantChunks, "\n"))
	} else if len(gotChunks) < 3 {
		t.Errorf("only %d chunks; the test wants a file cut in several", len(gotChunks))
	}
	if !slices.Equal(got, want) {
		t.Errorf("small-file path:\n%s\nordinary path:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(got) != len(files)+1 {
		t.Errorf("%d files recorded, want %d", len(got), len(files)+1)
	}
}

// pseudoRandom is n deterministic bytes that content-defined chunking cuts
// at Min..Max (repeated bytes would never cut before Max).
func pseudoRandom(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// The first read of a small file trusts the walk's stat instead of an
// fstat of its own; a file that changed since the walk, or that is no
// longer a regular file, must not be recorded under the walk's stat.
func TestSmallFileChangedSinceWalk(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	path := filepath.Join(src, "a.json")
	writeFile(t, path, `{"a":1}`)
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	walked := statEntryAt("a.json", &st)
	dir, err := beneath.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	r := &run{src: dir, params: chunker.Default, encode: make(chan *frame, 1),
		index: &chunkIndex{empty: true, known: map[blobstore.ID]int64{}, pending: map[uint64]int{}}}
	bufs := &buffers{window: chunker.BufferSize(chunker.Default), frame: new(frame)}

	c, err := r.capture(ctx, walked, bufs)
	if err != nil || c.size != 7 || !sameFingerprint(c.e, walked) {
		t.Fatalf("unchanged file: %+v, %v; want it read under the walk's stat", c, err)
	}

	writeFile(t, path, `{"a":22}`)
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if c, stable, handled, err := r.captureSmall(ctx, walked, bufs, true); c != nil || stable || !handled || !errors.Is(err, errSinceWalk) {
		t.Fatalf("changed since the walk: captureSmall = %+v, %v, %v, %v; want errSinceWalk, nothing stored", c, stable, handled, err)
	}
	c, err = r.capture(ctx, walked, bufs)
	if err != nil {
		t.Fatal(err)
	}
	if c.size != 8 || c.e.mtimeNs != later.UnixNano() || c.hash != blobstore.ID(blake3.Sum256([]byte(`{"a":22}`))) {
		t.Errorf("changed since the walk: recorded %d bytes, mtime %d, hash %x; want the new bytes under their own stat", c.size, c.e.mtimeNs, c.hash)
	}

	os.Remove(path)
	if err := unix.Mkfifo(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.capture(ctx, walked, bufs); !errors.Is(err, errReplaced) {
		t.Errorf("a FIFO in its place: %v, want errReplaced", err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := r.capture(ctx, walked, bufs); !errors.Is(err, errReplaced) {
		t.Errorf("a directory in its place: %v, want errReplaced", err)
	}
}

// Package storetest is the conformance suite for blobstore.Store
// implementations.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-dev/cairn/blobstore"
)

// Run checks that stores made by newStore behave as blobstore.Store
// requires. Each subtest gets a fresh, empty store, which Run closes when
// the subtest ends.
func Run(t *testing.T, newStore func(t *testing.T) blobstore.Store) {
	open := func(t *testing.T) blobstore.Store {
		t.Helper()
		s := newStore(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s blobstore.Store)
	}{
		{"CommitReadBack", testCommitReadBack},
		{"NothingVisibleBeforeCommit", testNothingVisibleBeforeCommit},
		{"Abort", testAbort},
		{"AbortAfterCommit", testAbortAfterCommit},
		{"InvalidNames", testInvalidNames},
		{"ReadPastEnd", testReadPastEnd},
		{"Missing", testMissing},
		{"Delete", testDelete},
		{"EmptyPack", testEmptyPack},
		{"ListCallbackError", testListCallbackError},
		{"ConcurrentReadAt", testConcurrentReadAt},
		{"CommitSameNameTwice", testCommitSameNameTwice},
		{"PackWriterRoundTrip", testPackWriterRoundTrip},
		{"LargePackManyWrites", testLargePackManyWrites},
		{"ConcurrentCommits", testConcurrentCommits},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// put commits data under its BLAKE3 name, as a PackWriter would.
func put(t *testing.T, s blobstore.Store, data []byte) string {
	t.Helper()
	ctx := context.Background()
	up, err := s.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer up.Abort()
	if _, err := up.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	name := blobstore.Sum(data).String()
	if err := up.Commit(ctx, name); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return name
}

func list(t *testing.T, s blobstore.Store) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := s.List(context.Background(), func(name string, size int64) error {
		if _, dup := got[name]; dup {
			t.Errorf("List: %s reported twice", name)
		}
		got[name] = size
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

func read(t *testing.T, s blobstore.Store, name string, off int64, n int) []byte {
	t.Helper()
	p := make([]byte, n)
	if err := s.ReadAt(context.Background(), name, p, off); err != nil {
		t.Fatalf("ReadAt(%s, %d, %d): %v", name, off, n, err)
	}
	return p
}

func testCommitReadBack(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	data := randBytes(1, 300<<10)
	name := put(t, s, data)

	size, err := s.Stat(ctx, name)
	if err != nil || size != int64(len(data)) {
		t.Fatalf("Stat = %d, %v; want %d, nil", size, err, len(data))
	}
	if got := read(t, s, name, 0, len(data)); !bytes.Equal(got, data) {
		t.Error("ReadAt of whole pack returned different bytes")
	}
	for _, r := range [][2]int{{0, 1}, {7, 100}, {len(data) - 1, 1}, {1000, 64 << 10}, {5, 0}} {
		if got := read(t, s, name, int64(r[0]), r[1]); !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
			t.Errorf("ReadAt(off %d, len %d) returned different bytes", r[0], r[1])
		}
	}
	if got := list(t, s); len(got) != 1 || got[name] != int64(len(data)) {
		t.Errorf("List = %v; want only %s with size %d", got, name, len(data))
	}
}

func testNothingVisibleBeforeCommit(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	data := randBytes(2, 10<<10)
	name := blobstore.Sum(data).String()
	up, err := s.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer up.Abort()
	if _, err := up.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if got := list(t, s); len(got) != 0 {
		t.Errorf("List before Commit = %v; want nothing", got)
	}
	if _, err := s.Stat(ctx, name); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Stat before Commit: %v; want ErrNotFound", err)
	}
	if err := s.ReadAt(ctx, name, make([]byte, 1), 0); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("ReadAt before Commit: %v; want ErrNotFound", err)
	}
	if err := up.Commit(ctx, name); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if got := list(t, s); got[name] != int64(len(data)) {
		t.Errorf("List after Commit = %v; want %s", got, name)
	}
}

func testAbort(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	data := randBytes(3, 10<<10)
	name := blobstore.Sum(data).String()
	up, err := s.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := up.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := up.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := up.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	if err := up.Commit(ctx, name); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if got := list(t, s); len(got) != 0 {
		t.Errorf("List after Abort = %v; want nothing", got)
	}
	if _, err := s.Stat(ctx, name); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Stat after Abort: %v; want ErrNotFound", err)
	}
}

func testAbortAfterCommit(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	data := randBytes(4, 1000)
	name := blobstore.Sum(data).String()
	up, err := s.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := up.Write(data); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := up.Commit(ctx, name); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if err := up.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if got := read(t, s, name, 0, len(data)); !bytes.Equal(got, data) {
		t.Error("pack changed by Abort after Commit")
	}
}

// invalidNames are refused by every method; several would escape or alias
// a fan-out directory if used as paths.
var invalidNames = []string{
	"",
	"../x",
	"..",
	".",
	strings.Repeat("A", 64),
	"ABC" + strings.Repeat("0", 61),
	strings.Repeat("a", 63),
	strings.Repeat("a", 65),
	strings.Repeat("g", 64),
	"ab/" + strings.Repeat("a", 61),
	"ab\\" + strings.Repeat("a", 61),
	"/" + strings.Repeat("a", 63),
	"../" + strings.Repeat("a", 61),
	strings.Repeat("a", 64) + ".pack",
	strings.Repeat("a", 63) + "\x00",
	" " + strings.Repeat("a", 63),
}

func testInvalidNames(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	for _, name := range invalidNames {
		if blobstore.ValidName(name) {
			t.Errorf("ValidName(%q) = true", name)
		}
		if err := s.ReadAt(ctx, name, make([]byte, 1), 0); !errors.Is(err, blobstore.ErrInvalidName) {
			t.Errorf("ReadAt(%q): %v; want ErrInvalidName", name, err)
		}
		if _, err := s.Stat(ctx, name); !errors.Is(err, blobstore.ErrInvalidName) {
			t.Errorf("Stat(%q): %v; want ErrInvalidName", name, err)
		}
		if err := s.Delete(ctx, name); !errors.Is(err, blobstore.ErrInvalidName) {
			t.Errorf("Delete(%q): %v; want ErrInvalidName", name, err)
		}
		up, err := s.Create(ctx)
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		if _, err := up.Write([]byte("data")); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if err := up.Commit(ctx, name); !errors.Is(err, blobstore.ErrInvalidName) {
			t.Errorf("Commit(%q): %v; want ErrInvalidName", name, err)
		}
		if err := up.Abort(); err != nil {
			t.Errorf("Abort after refused Commit: %v", err)
		}
	}
	if got := list(t, s); len(got) != 0 {
		t.Errorf("List after refused commits = %v; want nothing", got)
	}
	if !blobstore.ValidName(strings.Repeat("0123456789abcdef", 4)) {
		t.Error("ValidName refuses a valid name")
	}
}

func testReadPastEnd(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	data := randBytes(5, 1000)
	name := put(t, s, data)
	cases := []struct {
		off  int64
		n    int
		want error
	}{
		{990, 20, io.ErrUnexpectedEOF},
		{0, 1001, io.ErrUnexpectedEOF},
		{1000, 1, io.EOF},
		{5000, 10, io.EOF},
	}
	for _, c := range cases {
		err := s.ReadAt(ctx, name, make([]byte, c.n), c.off)
		if !errors.Is(err, c.want) {
			t.Errorf("ReadAt(off %d, len %d): %v; want %v", c.off, c.n, err, c.want)
		}
	}
	if err := s.ReadAt(ctx, name, make([]byte, 1), -1); err == nil {
		t.Error("ReadAt at negative offset succeeded")
	}
}

func testMissing(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	name := blobstore.Sum([]byte("never stored")).String()
	if err := s.ReadAt(ctx, name, make([]byte, 1), 0); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("ReadAt: %v; want ErrNotFound", err)
	}
	if _, err := s.Stat(ctx, name); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Stat: %v; want ErrNotFound", err)
	}
	if err := s.Delete(ctx, name); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Delete: %v; want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	keep := put(t, s, randBytes(6, 500))
	data := randBytes(7, 700)
	name := put(t, s, data)
	read(t, s, name, 0, len(data)) // a store may cache something for it

	if err := s.Delete(ctx, name); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := s.Stat(ctx, name); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Stat after Delete: %v; want ErrNotFound", err)
	}
	if err := s.ReadAt(ctx, name, make([]byte, 1), 0); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("ReadAt after Delete: %v; want ErrNotFound", err)
	}
	if err := s.Delete(ctx, name); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("second Delete: %v; want ErrNotFound", err)
	}
	if got := list(t, s); len(got) != 1 || got[keep] != 500 {
		t.Errorf("List after Delete = %v; want only %s", got, keep)
	}
	// A deleted pack can come back, as when a later backup writes the
	// same chunks again.
	put(t, s, data)
	if got := read(t, s, name, 0, len(data)); !bytes.Equal(got, data) {
		t.Error("recommitted pack reads back different bytes")
	}
}

func testEmptyPack(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	name := put(t, s, nil)
	if size, err := s.Stat(ctx, name); err != nil || size != 0 {
		t.Errorf("Stat = %d, %v; want 0, nil", size, err)
	}
	if err := s.ReadAt(ctx, name, make([]byte, 1), 0); !errors.Is(err, io.EOF) {
		t.Errorf("ReadAt: %v; want io.EOF", err)
	}
	if got := list(t, s); len(got) != 1 {
		t.Errorf("List = %v; want the empty pack", got)
	}
}

func testListCallbackError(t *testing.T, s blobstore.Store) {
	for i := range 3 {
		put(t, s, randBytes(uint64(10+i), 100))
	}
	stop := errors.New("stop")
	calls := 0
	err := s.List(context.Background(), func(string, int64) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("List = %v after %d calls; want the callback's error after 1", err, calls)
	}
}

func testConcurrentReadAt(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	packs := make([][]byte, 4)
	names := make([]string, len(packs))
	for i := range packs {
		packs[i] = randBytes(uint64(20+i), 64<<10)
		names[i] = put(t, s, packs[i])
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			p := make([]byte, 4096)
			for range 200 {
				i := r.IntN(len(packs))
				n := 1 + r.IntN(len(p))
				off := r.IntN(len(packs[i]) - n + 1)
				if err := s.ReadAt(ctx, names[i], p[:n], int64(off)); err != nil {
					t.Errorf("ReadAt: %v", err)
					return
				}
				if !bytes.Equal(p[:n], packs[i][off:off+n]) {
					t.Errorf("ReadAt(%s, %d, %d) returned different bytes", names[i], off, n)
					return
				}
			}
		})
	}
	wg.Wait()
}

func testCommitSameNameTwice(t *testing.T, s blobstore.Store) {
	data := randBytes(30, 5000)
	name := put(t, s, data)
	if again := put(t, s, data); again != name {
		t.Fatalf("names differ: %s, %s", name, again)
	}
	if got := list(t, s); len(got) != 1 || got[name] != int64(len(data)) {
		t.Errorf("List = %v; want only %s", got, name)
	}
	if got := read(t, s, name, 0, len(data)); !bytes.Equal(got, data) {
		t.Error("pack committed twice reads back different bytes")
	}
}

func testPackWriterRoundTrip(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	w, err := blobstore.NewPackWriter(ctx, s, nil)
	if err != nil {
		t.Fatalf("NewPackWriter: %v", err)
	}
	defer w.Abort()
	r := rand.New(rand.NewPCG(40, 0))
	var chunks [][]byte
	for i := range 500 {
		var c []byte
		switch n := r.IntN(20 << 10); i % 3 {
		case 0:
			c = randBytes(uint64(1000+i), n)
		case 1:
			c = bytes.Repeat([]byte(fmt.Sprintf("chunk %d ", i)), n/8+1)
		default:
			c = randBytes(uint64(1000+i), r.IntN(64))
		}
		e, err := w.Add(blobstore.Sum(c), len(c), blobstore.Encode(nil, c))
		if err != nil {
			t.Fatalf("Add: %v", err)
		}
		if e.Size != int64(len(c)) || e.ID != blobstore.Sum(c) {
			t.Fatalf("Add returned %+v for chunk %d", e, i)
		}
		chunks = append(chunks, c)
	}
	if w.Count() != len(chunks) {
		t.Errorf("Count = %d; want %d", w.Count(), len(chunks))
	}
	info, err := w.Finish(ctx)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if info.Size != w.Len() || len(info.Entries) != len(chunks) {
		t.Errorf("Finish = size %d, %d entries; want %d, %d", info.Size, len(info.Entries), w.Len(), len(chunks))
	}
	whole := read(t, s, info.Name, 0, int(info.Size))
	if got := blobstore.Sum(whole).String(); got != info.Name {
		t.Errorf("pack is named %s but hashes to %s", info.Name, got)
	}
	if got := list(t, s); got[info.Name] != info.Size {
		t.Errorf("List = %v; want %s with size %d", got, info.Name, info.Size)
	}

	entries, err := blobstore.ReadIndex(ctx, s, nil, info.Name)
	if err != nil {
		t.Fatalf("ReadIndex: %v", err)
	}
	if len(entries) != len(info.Entries) {
		t.Fatalf("ReadIndex returned %d entries; want %d", len(entries), len(info.Entries))
	}
	var buf []byte
	for i, e := range entries {
		if e != info.Entries[i] {
			t.Fatalf("ReadIndex entry %d = %+v; Finish said %+v", i, e, info.Entries[i])
		}
		buf, err = blobstore.ReadChunk(ctx, s, nil, info.Name, e, buf[:0])
		if err != nil {
			t.Fatalf("ReadChunk %d: %v", i, err)
		}
		if !bytes.Equal(buf, chunks[i]) {
			t.Fatalf("ReadChunk %d returned different bytes", i)
		}
	}
}

// testLargePackManyWrites commits a pack larger than a typical multipart
// part size (16 MiB), written in uneven pieces, and reads ranges across
// the boundaries a remote store might split it at.
func testLargePackManyWrites(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	data := randBytes(50, 20<<20+12345)
	up, err := s.Create(ctx)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	defer up.Abort()
	r := rand.New(rand.NewPCG(50, 1))
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 1+r.IntN(3<<20))
		if w, err := up.Write(rest[:n]); err != nil || w != n {
			t.Fatalf("Write = %d, %v; want %d", w, err, n)
		}
		rest = rest[n:]
	}
	name := blobstore.Sum(data).String()
	if err := up.Commit(ctx, name); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if size, err := s.Stat(ctx, name); err != nil || size != int64(len(data)) {
		t.Fatalf("Stat = %d, %v; want %d", size, err, len(data))
	}
	for _, off := range []int{0, 5<<20 - 7, 8<<20 - 1, 16<<20 - 100, len(data) - 4096} {
		if got := read(t, s, name, int64(off), 4096); !bytes.Equal(got, data[off:off+4096]) {
			t.Errorf("ReadAt(%d, 4096) returned different bytes", off)
		}
	}
}

// testConcurrentCommits commits packs from several goroutines at once,
// some of them the same pack (two writers storing the same chunks).
func testConcurrentCommits(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	shared := randBytes(60, 30<<10)
	var wg sync.WaitGroup
	want := map[string]int64{blobstore.Sum(shared).String(): int64(len(shared))}
	var mu sync.Mutex
	for g := range 6 {
		own := randBytes(uint64(61+g), 20<<10+g)
		mu.Lock()
		want[blobstore.Sum(own).String()] = int64(len(own))
		mu.Unlock()
		wg.Go(func() {
			for _, data := range [][]byte{shared, own} {
				up, err := s.Create(ctx)
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				if _, err := up.Write(data); err != nil {
					t.Errorf("Write: %v", err)
				}
				if err := up.Commit(ctx, blobstore.Sum(data).String()); err != nil {
					t.Errorf("Commit: %v", err)
				}
				up.Abort()
			}
		})
	}
	wg.Wait()
	got := list(t, s)
	if len(got) != len(want) {
		t.Errorf("List = %d packs; want %d", len(got), len(want))
	}
	for name, size := range want {
		if got[name] != size {
			t.Errorf("pack %s: listed with %d bytes, want %d", name, got[name], size)
		}
	}
}

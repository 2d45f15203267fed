package snapshotfs_test

import (
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"testing"
)

// benchView is a snapshot of one 100 MiB file, half random (stored raw),
// half compressible text (zstd).
func benchView(b *testing.B) (io.ReaderAt, func(), int64) {
	b.Helper()
	src := sourceDir(b)
	const size = 100 << 20
	data := append(randomBytes(11, size/2), logText(size/2)...)
	write(b, filepath.Join(src, "big"), data, 0o644)
	view := newRepo(b).snap(b, src)
	f, err := view.Open("big")
	if err != nil {
		b.Fatal(err)
	}
	return f.(io.ReaderAt), func() { f.Close() }, size
}

// BenchmarkRandomReadAt reads 4 KiB at random offsets.
func BenchmarkRandomReadAt(b *testing.B) {
	ra, done, size := benchView(b)
	defer done()
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 4<<10)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := ra.ReadAt(buf, r.Int64N(size-int64(len(buf)))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSequentialRead reads the whole file with io.Copy, whole-file
// hash check included.
func BenchmarkSequentialRead(b *testing.B) {
	src := sourceDir(b)
	const size = 100 << 20
	write(b, filepath.Join(src, "big"), append(randomBytes(11, size/2), logText(size/2)...), 0o644)
	view := newRepo(b).snap(b, src)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		f, err := view.Open("big")
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, f); err != nil || n != size {
			b.Fatal(n, err)
		}
		f.Close()
	}
}

// BenchmarkWalk lists every directory of a snapshot of 20,000 files in
// 200 directories, two levels deep (fs.WalkDir, one query a directory).
func BenchmarkWalk(b *testing.B) {
	src := sourceDir(b)
	for d := range 20 {
		for e := range 10 {
			for f := range 100 {
				write(b, filepath.Join(src, fmt.Sprintf("d%02d/e%02d/f%03d", d, e, f)), nil, 0o644)
			}
		}
	}
	view := newRepo(b).snap(b, src)
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := fs.WalkDir(view, ".", func(string, fs.DirEntry, error) error { n++; return nil }); err != nil || n != 20221 {
			b.Fatal(n, err)
		}
	}
}

// TestReadsStream: reading a 48 MiB file, whole or at random, allocates a
// small fraction of its size: the view never holds the whole file.
func TestReadsStream(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("writes and snapshots 48 MiB; allocation figures need no race detector")
	}
	src := sourceDir(t)
	const size = 48 << 20
	write(t, filepath.Join(src, "big"), append(randomBytes(12, size/2), logText(size/2)...), 0o644)
	view := newRepo(t).snap(t, src)

	allocated := func(fn func()) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	f, err := view.Open("big")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seq := allocated(func() {
		if n, err := io.Copy(io.Discard, f); err != nil || n != size {
			t.Fatalf("io.Copy = %d, %v", n, err)
		}
	})
	r := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 64<<10)
	random := allocated(func() {
		for range 500 {
			if _, err := f.(io.ReaderAt).ReadAt(buf, r.Int64N(size-int64(len(buf)))); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Logf("allocated %d KiB reading %d MiB in order, %d KiB for 500 random reads", seq>>10, size>>20, random>>10)
	if seq > size/8 || random > size/8 {
		t.Errorf("allocated %d bytes in order and %d at random reading a %d-byte file; want under an eighth of it", seq, random, size)
	}
}
